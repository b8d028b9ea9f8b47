// STAND-IN for the Arduino TFLM library's umbrella header, which only tells the Arduino IDE
// to add the library; tflm_edu links TFLM built from its sources instead.
#ifndef TFLM_EDU_STANDIN_TENSORFLOWLITE_H_
#define TFLM_EDU_STANDIN_TENSORFLOWLITE_H_
#endif  // TFLM_EDU_STANDIN_TENSORFLOWLITE_H_
