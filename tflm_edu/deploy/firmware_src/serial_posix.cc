// POSIX serial layer: termios raw mode; Read waits at most 10 ms so Poll() stays responsive.
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 600
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "serial_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

namespace tflm_edu {
namespace {

bool MakeRaw(int fd) {
  struct termios tio;
  if (tcgetattr(fd, &tio) != 0) return false;
  cfmakeraw(&tio);
  cfsetispeed(&tio, B115200);
  cfsetospeed(&tio, B115200);
  return tcsetattr(fd, TCSANOW, &tio) == 0;
}

}  // namespace

bool PosixSerial::Open(const char* path) {
  if (path != nullptr) {
    fd_ = open(path, O_RDWR | O_NOCTTY);
    if (fd_ < 0) return false;
    strncpy(path_, path, sizeof(path_) - 1);
    return MakeRaw(fd_);
  }
  fd_ = posix_openpt(O_RDWR | O_NOCTTY);
  if (fd_ < 0 || grantpt(fd_) != 0 || unlockpt(fd_) != 0) return false;
  const char* name = ptsname(fd_);
  if (name == nullptr) return false;
  strncpy(path_, name, sizeof(path_) - 1);
  keep_open_ = open(path_, O_RDWR | O_NOCTTY);
  return keep_open_ >= 0 && MakeRaw(keep_open_);
}

int PosixSerial::Read(uint8_t* buffer, int max) {
  struct pollfd p = {fd_, POLLIN, 0};
  if (poll(&p, 1, 10) <= 0 || !(p.revents & POLLIN)) return 0;
  ssize_t n = read(fd_, buffer, max);
  return n > 0 ? static_cast<int>(n) : 0;
}

void PosixSerial::Write(const uint8_t* data, int length) {
  while (length > 0) {
    ssize_t n = write(fd_, data, length);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    data += n;
    length -= static_cast<int>(n);
  }
}

uint32_t PosixSerial::Micros() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint32_t>(ts.tv_sec * 1000000ull + ts.tv_nsec / 1000);
}

}  // namespace tflm_edu
