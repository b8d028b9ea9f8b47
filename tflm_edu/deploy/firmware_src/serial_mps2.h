// Board layer for Arm's MPS2 FPGA boards as QEMU emulates them - mps2-an386 (Cortex-M4F)
// and mps2-an500 (Cortex-M7): the CMSDK APB UART0 carries the protocol, the CMSDK Timer0
// is the clock. Under QEMU's -icount shift=0 one executed instruction is one nanosecond of
// virtual time, so the 25 MHz timer counts instructions, 40 per tick: Counter() reports
// instructions, which is what an emulator can measure honestly (not cycles: QEMU models no
// pipeline, caches or wait states).
#ifndef TFLM_EDU_SERIAL_MPS2_H_
#define TFLM_EDU_SERIAL_MPS2_H_

#include "serial_port.h"

namespace tflm_edu {

class Mps2Serial : public SerialPort {
 public:
  void Begin(uint32_t baud);
  int Read(uint8_t* buffer, int max) override;     // sleeps (WFI) until a byte arrives
  void Write(const uint8_t* data, int length) override;
  uint32_t Micros() override;                      // of virtual time
  uint32_t Counter() override;                     // instructions executed
  uint8_t CounterUnit() override { return kCounterInstructions; }
  uint32_t ClockHz() override { return 25000000; }
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_SERIAL_MPS2_H_
