// The protocol server on a PC, with a stand-in for the model, to test the protocol code
// that the firmware runs. The stand-in "model" takes 1,000 int8 and returns 16 int8:
//   output[k] = (k + sum of input[i] for i % 16 == k) mod 256, and it takes about 1 ms.
// Usage: host_standin <model sha-256 hex> [serial device]
//   with no device it creates a pty and prints its path on the first line of stdout.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>

#include "protocol_server.h"
#include "serial_posix.h"

namespace {

constexpr uint32_t kInputBytes = 1000;
constexpr uint32_t kOutputBytes = 16;
const char* const kOps[] = {"STAND_IN"};
volatile sig_atomic_t g_reset = 0;

class StandInRunner : public tflm_edu::ModelRunner {
 public:
  explicit StandInRunner(const uint8_t* sha) {
    description_ = {"host_standin", {1, 0, 0}, sha, 4096, 1234,
                    {9, 2, {1, kInputBytes}, kInputBytes},
                    {9, 2, {1, kOutputBytes}, kOutputBytes}, kOps, 1};
  }
  bool Ready() override { return true; }
  uint8_t* InputBuffer() override { return input_; }
  const uint8_t* OutputBuffer() override { return output_; }
  const tflm_edu::BoardDescription& Describe() override { return description_; }
  int Invoke() override {
    for (uint32_t k = 0; k < kOutputBytes; ++k) output_[k] = static_cast<uint8_t>(k);
    for (uint32_t i = 0; i < kInputBytes; ++i) output_[i % kOutputBytes] += input_[i];
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, nullptr);
    return 0;
  }

 private:
  tflm_edu::BoardDescription description_;
  uint8_t input_[kInputBytes];
  uint8_t output_[kOutputBytes];
};

bool ParseHex(const char* hex, uint8_t* out) {
  if (strlen(hex) != 64) return false;
  for (int i = 0; i < 32; ++i) {
    unsigned value;
    if (sscanf(hex + 2 * i, "%2x", &value) != 1) return false;
    out[i] = static_cast<uint8_t>(value);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  static uint8_t sha[32];
  if (argc < 2 || !ParseHex(argv[1], sha)) {
    fprintf(stderr, "usage: %s <model sha-256 hex> [serial device]\n", argv[0]);
    return 2;
  }
  tflm_edu::PosixSerial serial;
  if (!serial.Open(argc > 2 ? argv[2] : nullptr)) {
    fprintf(stderr, "cannot open the serial port\n");
    return 1;
  }
  // SIGUSR1 simulates a reset: partial input is forgotten and the board re-announces.
  signal(SIGUSR1, [](int) { g_reset = 1; });
  printf("%s\n", serial.Path());
  fflush(stdout);
  StandInRunner runner(sha);
  tflm_edu::ProtocolServer server(serial, runner);
  server.Announce();
  for (;;) {
    if (g_reset) {
      g_reset = 0;
      server.Announce();
    }
    server.Poll();
  }
}
