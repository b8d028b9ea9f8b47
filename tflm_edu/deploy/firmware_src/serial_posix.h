// A host serial layer (Linux/macOS), for testing the protocol server without a board:
// open a serial device, or create a pseudo-terminal whose path the host client opens.
#ifndef TFLM_EDU_SERIAL_POSIX_H_
#define TFLM_EDU_SERIAL_POSIX_H_

#include "serial_port.h"

namespace tflm_edu {

class PosixSerial : public SerialPort {
 public:
  // path == nullptr: create a pty; Path() then names the end a host should open.
  bool Open(const char* path);
  const char* Path() const { return path_; }
  int Read(uint8_t* buffer, int max) override;
  void Write(const uint8_t* data, int length) override;
  uint32_t Micros() override;

 private:
  int fd_ = -1;
  int keep_open_ = -1;   // our own handle on the pty's slave end, so it never hangs up
  char path_[128] = {0};
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_SERIAL_POSIX_H_
