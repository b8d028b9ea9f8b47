// STM32 HAL serial layer (STM32F746G Discovery): USART1 is the ST-LINK virtual COM port.
// A 1-byte interrupt receive refills a ring buffer; DWT's cycle counter times the ops.
#ifndef TFLM_EDU_SERIAL_STM32_HAL_H_
#define TFLM_EDU_SERIAL_STM32_HAL_H_

#include "serial_port.h"
#include "stm32f7xx_hal.h"

namespace tflm_edu {

class Stm32HalSerial : public SerialPort {
 public:
  void Begin(uint32_t baud);
  int Read(uint8_t* buffer, int max) override;
  void Write(const uint8_t* data, int length) override;
  uint32_t Micros() override;
  uint32_t Counter() override;                   // core cycles (DWT CYCCNT)
  uint8_t CounterUnit() override { return kCounterCycles; }
  uint32_t ClockHz() override;
  UART_HandleTypeDef* handle();
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_SERIAL_STM32_HAL_H_
