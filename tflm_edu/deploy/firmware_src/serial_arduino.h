// Arduino serial layer: the USB CDC `Serial` of the Nano 33 BLE Sense (any Arduino core).
#ifndef TFLM_EDU_SERIAL_ARDUINO_H_
#define TFLM_EDU_SERIAL_ARDUINO_H_

#include <Arduino.h>

#include "serial_port.h"

namespace tflm_edu {

class ArduinoSerial : public SerialPort {
 public:
  void Begin(unsigned long baud) {
    Serial.begin(baud);
    while (!Serial) {}   // native USB: wait until the host opens the port
  }
  int Read(uint8_t* buffer, int max) override {
    int n = 0;
    while (n < max && Serial.available() > 0) buffer[n++] = static_cast<uint8_t>(Serial.read());
    return n;
  }
  void Write(const uint8_t* data, int length) override { Serial.write(data, length); }
  uint32_t Micros() override { return micros(); }
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_SERIAL_ARDUINO_H_
