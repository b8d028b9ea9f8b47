// STAND-IN for the AmbiqSuite SDK's utilities header (see am_mcu_apollo.h).
#ifndef TFLM_EDU_STANDIN_AM_UTIL_H_
#define TFLM_EDU_STANDIN_AM_UTIL_H_
#include "am_mcu_apollo.h"
#endif  // TFLM_EDU_STANDIN_AM_UTIL_H_
