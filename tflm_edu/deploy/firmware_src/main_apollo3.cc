// tflm_edu board firmware for the SparkFun Edge (Apollo3, AmbiqSuite SDK): the model behind
// the tflm_edu host-board protocol on UART0 (the USB-serial bridge), 115200 baud.
#include "am_bsp.h"
#include "am_mcu_apollo.h"
#include "serial_apollo3.h"
#include "tflm_runner.h"

int main(void) {
  am_hal_clkgen_control(AM_HAL_CLKGEN_CONTROL_SYSCLK_MAX, 0);   // 48 MHz
  am_hal_cachectrl_config(&am_hal_cachectrl_defaults);
  am_hal_cachectrl_enable();
  am_bsp_low_power_init();

  static tflm_edu::Apollo3Serial serial_port;
  serial_port.Begin(115200);
  tflm_edu::ServeForever(serial_port);
}
