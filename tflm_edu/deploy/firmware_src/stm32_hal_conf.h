// The STM32Cube HAL configuration of tflm_edu's firmware for the STM32F746G Discovery: the
// HAL modules the firmware uses (clock, power, flash latency, GPIO, DMA, UART, timers) and
// the board's oscillators. Every HAL project supplies this header, which the HAL includes as
// stm32f7xx_hal_conf.h: deploy/firmware.py writes it into the project under that name.
// Written for tflm_edu.
#ifndef TFLM_EDU_STM32F7XX_HAL_CONF_H_
#define TFLM_EDU_STM32F7XX_HAL_CONF_H_

#ifdef __cplusplus
extern "C" {
#endif

#define HAL_MODULE_ENABLED
#define HAL_CORTEX_MODULE_ENABLED
#define HAL_DMA_MODULE_ENABLED
#define HAL_FLASH_MODULE_ENABLED
#define HAL_GPIO_MODULE_ENABLED
#define HAL_PWR_MODULE_ENABLED
#define HAL_RCC_MODULE_ENABLED
#define HAL_TIM_MODULE_ENABLED
#define HAL_UART_MODULE_ENABLED

// The Discovery board's 25 MHz crystal; the chip's internal oscillators.
#define HSE_VALUE 25000000U
#define HSE_STARTUP_TIMEOUT 100U
#define HSI_VALUE 16000000U
#define LSI_VALUE 32000U
#define LSE_VALUE 32768U
#define LSE_STARTUP_TIMEOUT 5000U
#define EXTERNAL_CLOCK_VALUE 12288000U

#define VDD_VALUE 3300U
#define TICK_INT_PRIORITY 0x0FU
#define USE_RTOS 0U
#define PREFETCH_ENABLE 1U
#define ART_ACCELERATOR_ENABLE 1U
#define USE_HAL_TIM_REGISTER_CALLBACKS 0U
#define USE_HAL_UART_REGISTER_CALLBACKS 0U

#include "stm32f7xx_hal_rcc.h"
#include "stm32f7xx_hal_gpio.h"
#include "stm32f7xx_hal_dma.h"
#include "stm32f7xx_hal_cortex.h"
#include "stm32f7xx_hal_flash.h"
#include "stm32f7xx_hal_pwr.h"
#include "stm32f7xx_hal_tim.h"
#include "stm32f7xx_hal_uart.h"

#define assert_param(expr) ((void)0U)

#ifdef __cplusplus
}
#endif

#endif  // TFLM_EDU_STM32F7XX_HAL_CONF_H_
