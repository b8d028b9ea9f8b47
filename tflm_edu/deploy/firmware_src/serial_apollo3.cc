// Apollo3 UART0 (the Edge's USB-serial bridge pins) with the AmbiqSuite SDK HAL.
#include "serial_apollo3.h"

#include "am_bsp.h"
#include "am_mcu_apollo.h"
#include "am_util.h"

namespace tflm_edu {
namespace {

void* g_uart = nullptr;
uint8_t g_rx_ring[1024];
uint8_t g_tx_ring[1024];

}  // namespace

void Apollo3Serial::Begin(uint32_t baud) {
  am_hal_uart_config_t config = {};
  config.ui32BaudRate = baud;
  config.ui32DataBits = AM_HAL_UART_DATA_BITS_8;
  config.ui32Parity = AM_HAL_UART_PARITY_NONE;
  config.ui32StopBits = AM_HAL_UART_ONE_STOP_BIT;
  config.ui32FlowControl = AM_HAL_UART_FLOW_CTRL_NONE;
  config.ui32FifoLevels = AM_HAL_UART_TX_FIFO_1_2 | AM_HAL_UART_RX_FIFO_1_2;
  config.pui8TxBuffer = g_tx_ring;
  config.ui32TxBufferSize = sizeof(g_tx_ring);
  config.pui8RxBuffer = g_rx_ring;
  config.ui32RxBufferSize = sizeof(g_rx_ring);
  am_hal_uart_initialize(0, &g_uart);
  am_hal_uart_power_control(g_uart, AM_HAL_SYSCTRL_WAKE, false);
  am_hal_uart_configure(g_uart, &config);
  am_hal_gpio_pinconfig(AM_BSP_GPIO_COM_UART_TX, g_AM_BSP_GPIO_COM_UART_TX);
  am_hal_gpio_pinconfig(AM_BSP_GPIO_COM_UART_RX, g_AM_BSP_GPIO_COM_UART_RX);
  am_hal_uart_interrupt_enable(g_uart, AM_HAL_UART_INT_RX | AM_HAL_UART_INT_RX_TMOUT |
                                           AM_HAL_UART_INT_TX);
  NVIC_EnableIRQ(UART0_IRQn);
  am_hal_interrupt_master_enable();
  am_hal_stimer_config(AM_HAL_STIMER_CFG_CLEAR | AM_HAL_STIMER_CFG_FREEZE);
  am_hal_stimer_config(AM_HAL_STIMER_HFRC_3MHZ);
}

int Apollo3Serial::Read(uint8_t* buffer, int max) {
  uint32_t count = 0;
  am_hal_uart_transfer_t transfer = {};
  transfer.ui32Direction = AM_HAL_UART_READ;
  transfer.pui8Data = buffer;
  transfer.ui32NumBytes = static_cast<uint32_t>(max);
  transfer.ui32TimeoutMs = 0;   // whatever the ring buffer holds, no waiting
  transfer.pui32BytesTransferred = &count;
  am_hal_uart_transfer(g_uart, &transfer);
  return static_cast<int>(count);
}

void Apollo3Serial::Write(const uint8_t* data, int length) {
  uint32_t count = 0;
  am_hal_uart_transfer_t transfer = {};
  transfer.ui32Direction = AM_HAL_UART_WRITE;
  transfer.pui8Data = const_cast<uint8_t*>(data);
  transfer.ui32NumBytes = static_cast<uint32_t>(length);
  transfer.ui32TimeoutMs = AM_HAL_UART_WAIT_FOREVER;
  transfer.pui32BytesTransferred = &count;
  am_hal_uart_transfer(g_uart, &transfer);
}

uint32_t Apollo3Serial::Micros() { return am_hal_stimer_counter_get() / 3; }

}  // namespace tflm_edu

// The UART0 interrupt moves bytes between the FIFOs and the ring buffers.
extern "C" void am_uart_isr(void) {
  uint32_t status = 0, idle = 0;
  am_hal_uart_interrupt_status_get(tflm_edu::g_uart, &status, true);
  am_hal_uart_interrupt_clear(tflm_edu::g_uart, status);
  am_hal_uart_interrupt_service(tflm_edu::g_uart, status, &idle);
}
