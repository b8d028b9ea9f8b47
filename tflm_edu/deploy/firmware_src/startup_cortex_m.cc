// Boot code for a Cortex-M4F/M7 without a vendor SDK (QEMU's MPS2 boards, and the stand-in
// builds of the other boards): the vector table at the start of flash, and the reset handler
// a C++ program needs before main(): copy initialised data from flash to RAM, zero the rest,
// turn on the FPU, run the static constructors.
#include <stdint.h>
#include <string.h>

extern "C" {
// Defined by the linker script (cortex_m.ld).
extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top__;
void __libc_init_array(void);
int main(void);

void Reset_Handler(void) {
  memcpy(&__data_start__, &__data_load__,
         reinterpret_cast<char*>(&__data_end__) - reinterpret_cast<char*>(&__data_start__));
  memset(&__bss_start__, 0,
         reinterpret_cast<char*>(&__bss_end__) - reinterpret_cast<char*>(&__bss_start__));
  // CPACR: full access to coprocessors 10 and 11, the FPU, before any float instruction.
  volatile uint32_t* cpacr = reinterpret_cast<volatile uint32_t*>(0xE000ED88);
  *cpacr |= 0xFu << 20;
  __asm volatile("dsb\n isb" ::: "memory");
  __libc_init_array();
  main();
  for (;;) {}
}

// A fault stops the core where it is; the host sees a board that stopped answering.
void Fault_Handler(void) {
  for (;;) {}
}

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16])(void) = {
    reinterpret_cast<void (*)(void)>(&__stack_top__),  // initial stack pointer
    Reset_Handler,
    Fault_Handler,   // NMI
    Fault_Handler,   // HardFault
    Fault_Handler,   // MemManage
    Fault_Handler,   // BusFault
    Fault_Handler,   // UsageFault
    nullptr, nullptr, nullptr, nullptr,
    Fault_Handler,   // SVCall
    Fault_Handler,   // DebugMonitor
    nullptr,
    Fault_Handler,   // PendSV
    Fault_Handler,   // SysTick
};

// The firmware has no heap: C++'s delete (called by virtual destructors) has nothing to do.
}  // extern "C"

void operator delete(void*) noexcept {}
void operator delete(void*, unsigned int) noexcept {}
