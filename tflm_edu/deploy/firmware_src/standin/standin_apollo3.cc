// STAND-IN for the AmbiqSuite SDK's HAL and BSP (see am_mcu_apollo.h): every function does
// nothing and succeeds. It exists so that main_apollo3.cc, the protocol server and TFLM link
// into one image for the Apollo3's memory; the real SDK replaces it in a PlatformIO build.
#include "am_bsp.h"

const am_hal_cachectrl_config_t am_hal_cachectrl_defaults = {true, 0, 0};
const am_hal_gpio_pincfg_t g_AM_BSP_GPIO_COM_UART_TX = {0, 0};
const am_hal_gpio_pincfg_t g_AM_BSP_GPIO_COM_UART_RX = {0, 0};

extern "C" {
uint32_t am_hal_uart_initialize(uint32_t, void** handle) {
  static uint32_t uart;
  *handle = &uart;
  return AM_HAL_STATUS_SUCCESS;
}
uint32_t am_hal_uart_power_control(void*, am_hal_sysctrl_power_state_e, bool) { return 0; }
uint32_t am_hal_uart_configure(void*, const am_hal_uart_config_t*) { return 0; }
uint32_t am_hal_uart_transfer(void*, const am_hal_uart_transfer_t* transfer) {
  *transfer->pui32BytesTransferred =
      transfer->ui32Direction == AM_HAL_UART_WRITE ? transfer->ui32NumBytes : 0;
  return 0;
}
uint32_t am_hal_uart_interrupt_enable(void*, uint32_t) { return 0; }
uint32_t am_hal_uart_interrupt_status_get(void*, uint32_t* status, bool) {
  *status = 0;
  return 0;
}
uint32_t am_hal_uart_interrupt_clear(void*, uint32_t) { return 0; }
uint32_t am_hal_uart_interrupt_service(void*, uint32_t, uint32_t* idle) {
  *idle = 1;
  return 0;
}
uint32_t am_hal_gpio_pinconfig(uint32_t, const am_hal_gpio_pincfg_t) { return 0; }
uint32_t am_hal_interrupt_master_enable(void) { return 0; }
uint32_t am_hal_stimer_config(uint32_t) { return 0; }
uint32_t am_hal_stimer_counter_get(void) { return 0; }
uint32_t am_hal_clkgen_control(am_hal_clkgen_control_e, void*) { return 0; }
uint32_t am_hal_cachectrl_config(const am_hal_cachectrl_config_t*) { return 0; }
uint32_t am_hal_cachectrl_enable(void) { return 0; }
void am_bsp_low_power_init(void) {}
}
