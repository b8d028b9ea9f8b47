// tflm_edu board firmware for QEMU's MPS2 boards (mps2-an386: Cortex-M4F, mps2-an500:
// Cortex-M7): the model behind the tflm_edu host-board protocol on UART0, which QEMU
// connects to a pseudo-terminal that the host opens like a USB serial port.
#include "serial_mps2.h"
#include "tflm_runner.h"

int main(void) {
  static tflm_edu::Mps2Serial serial_port;
  serial_port.Begin(115200);
  tflm_edu::ServeForever(serial_port);
}
