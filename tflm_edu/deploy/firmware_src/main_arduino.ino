// tflm_edu board firmware for Arduino (Nano 33 BLE Sense): the model behind the tflm_edu
// host-board protocol. The host runs `tflm-edu deploy` / tflm_edu.deploy.Board to talk to it.
#include <TensorFlowLite.h>

#include "protocol_server.h"
#include "serial_arduino.h"
#include "tflm_runner.h"

tflm_edu::ArduinoSerial serial_port;
tflm_edu::TflmRunner runner;
tflm_edu::ProtocolServer server(serial_port, runner);

void setup() {
  serial_port.Begin(115200);
  runner.Setup(&serial_port);  // if allocation fails the server answers NOT_READY
  server.Announce();
}

void loop() { server.Poll(); }
