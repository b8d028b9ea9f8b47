// The generated firmware on a PC (Linux/macOS): real TFLM, a pseudo-terminal for a UART.
// Run it, open the path it prints with tflm_edu.deploy.Board, and compare TFLM on this
// machine with tflm_edu - the same check as on a board, before any board is involved.
// Usage: ./board [serial device]   (no device: a new pty, its path on the first line)
#include <stdio.h>

#include "serial_posix.h"
#include "tflm_runner.h"

int main(int argc, char** argv) {
  static tflm_edu::PosixSerial serial_port;
  if (!serial_port.Open(argc > 1 ? argv[1] : nullptr)) {
    fprintf(stderr, "cannot open the serial port\n");
    return 1;
  }
  printf("%s\n", serial_port.Path());
  fflush(stdout);
  tflm_edu::ServeForever(serial_port);
}
