// The MPS2 board layer: registers as Arm's CMSDK documents them (and QEMU's
// hw/char/cmsdk-apb-uart.c and hw/timer/cmsdk-apb-timer.c implement them).
#include "serial_mps2.h"

namespace tflm_edu {
namespace {

constexpr uint32_t kPeripheralClockHz = 25000000;
constexpr uint32_t kInstructionsPerTick = 1000000000u / kPeripheralClockHz;  // at 1 ns each

struct CmsdkUart {
  volatile uint32_t data;       // 0x00
  volatile uint32_t state;      // 0x04: bit 0 TX buffer full, bit 1 RX buffer full
  volatile uint32_t ctrl;       // 0x08: bit 0 TX enable, bit 1 RX enable, bit 3 RX interrupt
  volatile uint32_t intstatus;  // 0x0C: bit 1 RX interrupt (write 1 to clear)
  volatile uint32_t bauddiv;    // 0x10
};
struct CmsdkTimer {
  volatile uint32_t ctrl;       // 0x00: bit 0 enable
  volatile uint32_t value;      // 0x04: counts down at the peripheral clock
  volatile uint32_t reload;     // 0x08
  volatile uint32_t intstatus;  // 0x0C
};
CmsdkUart* const kUart0 = reinterpret_cast<CmsdkUart*>(0x40004000);
CmsdkTimer* const kTimer0 = reinterpret_cast<CmsdkTimer*>(0x40000000);
volatile uint32_t* const kNvicIser0 = reinterpret_cast<volatile uint32_t*>(0xE000E100);
volatile uint32_t* const kNvicIcpr0 = reinterpret_cast<volatile uint32_t*>(0xE000E280);
constexpr uint32_t kUart0RxIrq = 0;   // QEMU's mps2.c: UART0 RX is interrupt 0

uint32_t Ticks() { return 0xFFFFFFFFu - kTimer0->value; }

}  // namespace

void Mps2Serial::Begin(uint32_t baud) {
  kUart0->bauddiv = kPeripheralClockHz / baud;
  kUart0->ctrl = 0x1 | 0x2 | 0x8;          // TX, RX, RX interrupt (to wake from WFI)
  kTimer0->reload = 0xFFFFFFFFu;
  kTimer0->value = 0xFFFFFFFFu;
  kTimer0->ctrl = 0x1;
  // Interrupts stay masked (PRIMASK): a pending UART interrupt only ends a WFI.
  __asm volatile("cpsid i" ::: "memory");
  *kNvicIser0 = 1u << kUart0RxIrq;
}

int Mps2Serial::Read(uint8_t* buffer, int max) {
  if (!(kUart0->state & 0x2)) {
    // Nothing yet: clear the old interrupt, look once more, then sleep until a byte comes
    // (the emulator then idles instead of spinning a host core).
    kUart0->intstatus = 0x2;
    *kNvicIcpr0 = 1u << kUart0RxIrq;
    if (!(kUart0->state & 0x2)) __asm volatile("wfi" ::: "memory");
  }
  int n = 0;
  while (n < max && (kUart0->state & 0x2)) buffer[n++] = static_cast<uint8_t>(kUart0->data);
  return n;
}

void Mps2Serial::Write(const uint8_t* data, int length) {
  for (int i = 0; i < length; ++i) {
    while (kUart0->state & 0x1) {}
    kUart0->data = data[i];
  }
}

uint32_t Mps2Serial::Micros() { return Ticks() / (kPeripheralClockHz / 1000000u); }

uint32_t Mps2Serial::Counter() { return Ticks() * kInstructionsPerTick; }

}  // namespace tflm_edu
