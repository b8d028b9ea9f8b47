// STAND-IN for the AmbiqSuite SDK (SparkFun Edge, Apollo3), which is not available where
// tflm_edu compiles the firmware: the types, constants and functions serial_apollo3.cc and
// main_apollo3.cc use, with the SDK's signatures, so that everything but the SDK itself is
// compiled and linked for the board's Cortex-M4F. Made by tflm_edu (Project.compile).
#ifndef TFLM_EDU_STANDIN_AM_MCU_APOLLO_H_
#define TFLM_EDU_STANDIN_AM_MCU_APOLLO_H_

#include <stdbool.h>
#include <stdint.h>

// The Apollo3's interrupts as CMSIS wants them declared before core_cm4.h.
typedef enum {
  NonMaskableInt_IRQn = -14, HardFault_IRQn = -13, MemoryManagement_IRQn = -12,
  BusFault_IRQn = -11, UsageFault_IRQn = -10, SVCall_IRQn = -5, DebugMonitor_IRQn = -4,
  PendSV_IRQn = -2, SysTick_IRQn = -1, UART0_IRQn = 15
} IRQn_Type;
#define __CM4_REV 0x0001U
#define __MPU_PRESENT 1
#define __NVIC_PRIO_BITS 3
#define __Vendor_SysTickConfig 0
#ifndef __FPU_PRESENT
#define __FPU_PRESENT 1
#endif
#include "core_cm4.h"

#define AM_HAL_STATUS_SUCCESS 0u

typedef enum { AM_HAL_SYSCTRL_WAKE, AM_HAL_SYSCTRL_NORMALSLEEP, AM_HAL_SYSCTRL_DEEPSLEEP }
    am_hal_sysctrl_power_state_e;

typedef struct {
  uint32_t ui32BaudRate;
  uint32_t ui32DataBits;
  uint32_t ui32Parity;
  uint32_t ui32StopBits;
  uint32_t ui32FlowControl;
  uint32_t ui32FifoLevels;
  uint8_t* pui8TxBuffer;
  uint32_t ui32TxBufferSize;
  uint8_t* pui8RxBuffer;
  uint32_t ui32RxBufferSize;
} am_hal_uart_config_t;

typedef enum { AM_HAL_UART_WRITE = 0, AM_HAL_UART_READ = 1 } am_hal_uart_dir_e;

typedef struct {
  uint32_t ui32Direction;
  uint8_t* pui8Data;
  uint32_t ui32NumBytes;
  uint32_t ui32TimeoutMs;
  uint32_t* pui32BytesTransferred;
} am_hal_uart_transfer_t;

#define AM_HAL_UART_DATA_BITS_8 (3u << 5)
#define AM_HAL_UART_PARITY_NONE 0u
#define AM_HAL_UART_ONE_STOP_BIT 0u
#define AM_HAL_UART_FLOW_CTRL_NONE 0u
#define AM_HAL_UART_TX_FIFO_1_2 (2u << 0)
#define AM_HAL_UART_RX_FIFO_1_2 (2u << 3)
#define AM_HAL_UART_INT_RX (1u << 4)
#define AM_HAL_UART_INT_TX (1u << 5)
#define AM_HAL_UART_INT_RX_TMOUT (1u << 6)
#define AM_HAL_UART_WAIT_FOREVER 0xFFFFFFFFu

typedef struct { uint32_t uFuncSel : 3; uint32_t uReserved : 29; } am_hal_gpio_pincfg_t;

typedef enum { AM_HAL_CLKGEN_CONTROL_SYSCLK_MAX, AM_HAL_CLKGEN_CONTROL_XTAL_START }
    am_hal_clkgen_control_e;
typedef struct { bool bConfigure; uint32_t eInfoMode; uint32_t eEnableNCR; } am_hal_cachectrl_config_t;
extern const am_hal_cachectrl_config_t am_hal_cachectrl_defaults;

#define AM_HAL_STIMER_CFG_CLEAR (1u << 31)
#define AM_HAL_STIMER_CFG_FREEZE (1u << 30)
#define AM_HAL_STIMER_HFRC_3MHZ 0x1u

#ifdef __cplusplus
extern "C" {
#endif
uint32_t am_hal_uart_initialize(uint32_t ui32Module, void** ppHandle);
uint32_t am_hal_uart_power_control(void* pHandle, am_hal_sysctrl_power_state_e ePowerState,
                                   bool bRetainState);
uint32_t am_hal_uart_configure(void* pHandle, const am_hal_uart_config_t* psConfig);
uint32_t am_hal_uart_transfer(void* pHandle, const am_hal_uart_transfer_t* pTransfer);
uint32_t am_hal_uart_interrupt_enable(void* pHandle, uint32_t ui32IntMask);
uint32_t am_hal_uart_interrupt_status_get(void* pHandle, uint32_t* pui32Status,
                                          bool bEnabledOnly);
uint32_t am_hal_uart_interrupt_clear(void* pHandle, uint32_t ui32IntMask);
uint32_t am_hal_uart_interrupt_service(void* pHandle, uint32_t ui32Status,
                                       uint32_t* pui32UartTxIdle);
uint32_t am_hal_gpio_pinconfig(uint32_t ui32Pin, const am_hal_gpio_pincfg_t bfGpioCfg);
uint32_t am_hal_interrupt_master_enable(void);
uint32_t am_hal_stimer_config(uint32_t ui32STimerConfig);
uint32_t am_hal_stimer_counter_get(void);
uint32_t am_hal_clkgen_control(am_hal_clkgen_control_e eControl, void* pArgs);
uint32_t am_hal_cachectrl_config(const am_hal_cachectrl_config_t* psConfig);
uint32_t am_hal_cachectrl_enable(void);
#ifdef __cplusplus
}
#endif

#endif  // TFLM_EDU_STANDIN_AM_MCU_APOLLO_H_
