// Apollo3 serial layer (SparkFun Edge): UART0 through the AmbiqSuite HAL, interrupt-driven
// ring buffers; STIMER at 3 MHz as the microsecond clock.
#ifndef TFLM_EDU_SERIAL_APOLLO3_H_
#define TFLM_EDU_SERIAL_APOLLO3_H_

#include "serial_port.h"

namespace tflm_edu {

class Apollo3Serial : public SerialPort {
 public:
  void Begin(uint32_t baud);
  int Read(uint8_t* buffer, int max) override;
  void Write(const uint8_t* data, int length) override;
  uint32_t Micros() override;
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_SERIAL_APOLLO3_H_
