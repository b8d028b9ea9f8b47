// USART1 (PA9 TX, PB7 RX - the Discovery's ST-LINK VCP) with the STM32Cube HAL.
#include "serial_stm32_hal.h"

namespace tflm_edu {
namespace {

UART_HandleTypeDef g_uart;
volatile uint8_t g_ring[1024];
volatile uint32_t g_head = 0;   // written by the interrupt
uint32_t g_tail = 0;            // read by Read()
uint8_t g_byte;

}  // namespace

UART_HandleTypeDef* Stm32HalSerial::handle() { return &g_uart; }

void Stm32HalSerial::Begin(uint32_t baud) {
  __HAL_RCC_GPIOA_CLK_ENABLE();
  __HAL_RCC_GPIOB_CLK_ENABLE();
  __HAL_RCC_USART1_CLK_ENABLE();
  GPIO_InitTypeDef pin = {};
  pin.Mode = GPIO_MODE_AF_PP;
  pin.Pull = GPIO_PULLUP;
  pin.Speed = GPIO_SPEED_FREQ_VERY_HIGH;
  pin.Alternate = GPIO_AF7_USART1;
  pin.Pin = GPIO_PIN_9;
  HAL_GPIO_Init(GPIOA, &pin);
  pin.Pin = GPIO_PIN_7;
  HAL_GPIO_Init(GPIOB, &pin);

  g_uart.Instance = USART1;
  g_uart.Init.BaudRate = baud;
  g_uart.Init.WordLength = UART_WORDLENGTH_8B;
  g_uart.Init.StopBits = UART_STOPBITS_1;
  g_uart.Init.Parity = UART_PARITY_NONE;
  g_uart.Init.Mode = UART_MODE_TX_RX;
  g_uart.Init.HwFlowCtl = UART_HWCONTROL_NONE;
  g_uart.Init.OverSampling = UART_OVERSAMPLING_16;
  HAL_UART_Init(&g_uart);
  HAL_NVIC_SetPriority(USART1_IRQn, 5, 0);
  HAL_NVIC_EnableIRQ(USART1_IRQn);
  HAL_UART_Receive_IT(&g_uart, &g_byte, 1);

  // The cycle counter: microseconds = cycles / (SystemCoreClock / 1e6). On the Cortex-M7
  // the DWT is locked after reset: writes are ignored until its lock access register is
  // given the key, and the counter would then read 0 forever.
  CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
  DWT->LAR = 0xC5ACCE55;
  DWT->CYCCNT = 0;
  DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
}

int Stm32HalSerial::Read(uint8_t* buffer, int max) {
  int n = 0;
  while (n < max && g_tail != g_head) {
    buffer[n++] = g_ring[g_tail];
    g_tail = (g_tail + 1) % sizeof(g_ring);
  }
  return n;
}

void Stm32HalSerial::Write(const uint8_t* data, int length) {
  HAL_UART_Transmit(&g_uart, const_cast<uint8_t*>(data), static_cast<uint16_t>(length),
                    HAL_MAX_DELAY);
}

uint32_t Stm32HalSerial::Micros() { return DWT->CYCCNT / (SystemCoreClock / 1000000u); }

uint32_t Stm32HalSerial::Counter() { return DWT->CYCCNT; }

uint32_t Stm32HalSerial::ClockHz() { return SystemCoreClock; }

}  // namespace tflm_edu

extern "C" void USART1_IRQHandler(void) { HAL_UART_IRQHandler(&tflm_edu::g_uart); }

extern "C" void HAL_UART_RxCpltCallback(UART_HandleTypeDef* uart) {
  using namespace tflm_edu;
  uint32_t next = (g_head + 1) % sizeof(g_ring);
  if (next != g_tail) {          // full: drop the byte; the frame's CRC will fail, host resends
    g_ring[g_head] = g_byte;
    g_head = next;
  }
  HAL_UART_Receive_IT(uart, &g_byte, 1);
}

extern "C" void HAL_UART_ErrorCallback(UART_HandleTypeDef* uart) {
  HAL_UART_Receive_IT(uart, &tflm_edu::g_byte, 1);   // overrun or noise: keep receiving
}
