// STAND-IN for the Arduino core: a Serial that never receives, a clock that never moves, and
// the main() the core would run (setup once, loop forever). It exists so that the sketch,
// the protocol server and TFLM link into one image for the board's memory; the real core
// replaces it when arduino-cli builds the sketch.
#include "Arduino.h"

StandInSerial Serial;

void StandInSerial::begin(unsigned long) {}
int StandInSerial::available() { return 0; }
int StandInSerial::read() { return -1; }
size_t StandInSerial::write(const uint8_t*, size_t size) { return size; }
unsigned long micros() { return 0; }

int main() {
  setup();
  for (;;) loop();
}
