// tflm_edu board firmware for the STM32F746G Discovery (STM32Cube HAL): the model behind the
// tflm_edu host-board protocol on USART1 (the ST-LINK virtual COM port), 115200 baud.
#include "serial_stm32_hal.h"
#include "stm32f7xx_hal.h"
#include "tflm_runner.h"

// 216 MHz from the 25 MHz HSE: PLL M=25, N=432, P=2; over-drive on, 7 flash wait states.
static void SystemClock_Config(void) {
  RCC_OscInitTypeDef osc = {};
  osc.OscillatorType = RCC_OSCILLATORTYPE_HSE;
  osc.HSEState = RCC_HSE_ON;
  osc.PLL.PLLState = RCC_PLL_ON;
  osc.PLL.PLLSource = RCC_PLLSOURCE_HSE;
  osc.PLL.PLLM = 25;
  osc.PLL.PLLN = 432;
  osc.PLL.PLLP = RCC_PLLP_DIV2;
  osc.PLL.PLLQ = 9;
  __HAL_RCC_PWR_CLK_ENABLE();
  __HAL_PWR_VOLTAGESCALING_CONFIG(PWR_REGULATOR_VOLTAGE_SCALE1);
  HAL_RCC_OscConfig(&osc);
  HAL_PWREx_EnableOverDrive();
  RCC_ClkInitTypeDef clk = {};
  clk.ClockType = RCC_CLOCKTYPE_SYSCLK | RCC_CLOCKTYPE_HCLK | RCC_CLOCKTYPE_PCLK1 |
                  RCC_CLOCKTYPE_PCLK2;
  clk.SYSCLKSource = RCC_SYSCLKSOURCE_PLLCLK;
  clk.AHBCLKDivider = RCC_SYSCLK_DIV1;
  clk.APB1CLKDivider = RCC_HCLK_DIV4;
  clk.APB2CLKDivider = RCC_HCLK_DIV2;
  HAL_RCC_ClockConfig(&clk, FLASH_LATENCY_7);
}

extern "C" void SysTick_Handler(void) { HAL_IncTick(); }

int main(void) {
  SCB_EnableICache();
  SCB_EnableDCache();
  HAL_Init();
  SystemClock_Config();

  static tflm_edu::Stm32HalSerial serial_port;
  serial_port.Begin(115200);
  tflm_edu::ServeForever(serial_port);
}
