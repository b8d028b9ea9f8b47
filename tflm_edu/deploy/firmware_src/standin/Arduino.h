// STAND-IN for the Arduino core's Arduino.h (Arduino mbed core for the Nano 33 BLE Sense),
// which is not available where tflm_edu compiles the firmware: just what the sketch and
// serial_arduino.h use, with the core's signatures, so that everything but the core itself
// is compiled and linked for the board's Cortex-M4F. Made by tflm_edu (Project.compile).
#ifndef TFLM_EDU_STANDIN_ARDUINO_H_
#define TFLM_EDU_STANDIN_ARDUINO_H_

#include <stddef.h>
#include <stdint.h>

class StandInSerial {
 public:
  void begin(unsigned long baud);
  int available();
  int read();
  size_t write(const uint8_t* buffer, size_t size);
  explicit operator bool() const { return true; }
};

extern StandInSerial Serial;
unsigned long micros();
void setup();
void loop();

#endif  // TFLM_EDU_STANDIN_ARDUINO_H_
