// The serial layer the protocol server talks through: one small class per board.
// Read() must not block for long (return 0 when nothing has arrived); Write() may block
// until the bytes are sent. Micros() is a free-running microsecond clock for latency.
#ifndef TFLM_EDU_SERIAL_PORT_H_
#define TFLM_EDU_SERIAL_PORT_H_

#include <stddef.h>
#include <stdint.h>

namespace tflm_edu {

class SerialPort {
 public:
  virtual ~SerialPort() {}
  // Copies up to `max` received bytes into `buffer`; returns how many (0: none yet).
  virtual int Read(uint8_t* buffer, int max) = 0;
  virtual void Write(const uint8_t* data, int length) = 0;
  virtual uint32_t Micros() = 0;
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_SERIAL_PORT_H_
