// STAND-IN for the SparkFun Edge board support package of the AmbiqSuite SDK (see
// am_mcu_apollo.h): the UART pins and the low-power set-up main_apollo3.cc uses.
#ifndef TFLM_EDU_STANDIN_AM_BSP_H_
#define TFLM_EDU_STANDIN_AM_BSP_H_

#include "am_mcu_apollo.h"

#define AM_BSP_GPIO_COM_UART_TX 48
#define AM_BSP_GPIO_COM_UART_RX 49
extern const am_hal_gpio_pincfg_t g_AM_BSP_GPIO_COM_UART_TX;
extern const am_hal_gpio_pincfg_t g_AM_BSP_GPIO_COM_UART_RX;

#ifdef __cplusplus
extern "C" {
#endif
void am_bsp_low_power_init(void);
#ifdef __cplusplus
}
#endif

#endif  // TFLM_EDU_STANDIN_AM_BSP_H_
