// The board layer the protocol server talks through: the serial line and the clock, one
// small class per board. Read() must not block for long (return 0 when nothing has
// arrived; a board with nothing else to do may sleep until a byte comes); Write() may block
// until the bytes are sent. Micros() is a free-running microsecond clock for latency;
// Counter() is the finest counter the board has (cycles, or on QEMU instructions), in the
// unit CounterUnit() names, used to time each op.
#ifndef TFLM_EDU_SERIAL_PORT_H_
#define TFLM_EDU_SERIAL_PORT_H_

#include <stddef.h>
#include <stdint.h>

#include "protocol_constants.h"

namespace tflm_edu {

class SerialPort {
 public:
  virtual ~SerialPort() {}
  // Copies up to `max` received bytes into `buffer`; returns how many (0: none yet).
  virtual int Read(uint8_t* buffer, int max) = 0;
  virtual void Write(const uint8_t* data, int length) = 0;
  virtual uint32_t Micros() = 0;
  virtual uint32_t Counter() { return Micros(); }
  virtual uint8_t CounterUnit() { return kCounterMicroseconds; }
  virtual uint32_t ClockHz() { return 0; }      // the core clock, 0 if unknown
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_SERIAL_PORT_H_
