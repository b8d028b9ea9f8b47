// The protocol server on a PC, with a stand-in for the model, to test the protocol code
// that the firmware runs. The stand-in "model" takes 1,000 int8 and returns 16 int8:
//   output[k] = (k + sum of input[i] for i % 16 == k) mod 256, and it takes about 1 ms.
// Its "profile" is two ops, STAND_IN_SUM and STAND_IN_SLEEP; its tensors 0, 1 and 2 are
// the input, the sums and the output, kept only after CONFIGURE with preserve-all, and
// CONFIGURE succeeds for arenas of at least 1,234 bytes - so the host's bisection can be
// checked against a known answer.
// Usage: host_standin <model sha-256 hex> [--reboot-after-invoke N] [device]
//   with no device it creates a pty and prints its path on the first line of stdout.
//   --reboot-after-invoke N: reboot silently (no ANNOUNCE) after answering the N-th INVOKE.
// SIGUSR1 makes it reboot with an ANNOUNCE, SIGUSR2 without one.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol_server.h"
#include "serial_posix.h"

namespace {

constexpr uint32_t kInputBytes = 1000;
constexpr uint32_t kOutputBytes = 16;
constexpr uint32_t kArenaCapacity = 4096;
constexpr uint32_t kArenaNeeded = 1234;
const char* const kOps[] = {"STAND_IN"};
volatile sig_atomic_t g_reset = 0;

class StandInRunner : public tflm_edu::ModelRunner {
 public:
  explicit StandInRunner(const uint8_t* sha) {
    description_ = {};
    description_.board = "host_standin";
    description_.firmware_version[0] = 2;
    description_.model_sha256 = sha;
    description_.arena_capacity = kArenaCapacity;
    description_.input_count = description_.output_count = 1;
    description_.inputs[0] = {9, 2, {1, kInputBytes}, kInputBytes};
    description_.outputs[0] = {9, 2, {1, kOutputBytes}, kOutputBytes};
    description_.ops = kOps;
    description_.op_count = 1;
    Configure(0, false);
  }
  const tflm_edu::BoardDescription& Describe() override { return description_; }
  uint8_t* InputBuffer(int) override { return input_; }
  const uint8_t* OutputBuffer(int) override { return output_; }
  int Invoke() override {
    for (uint32_t k = 0; k < kOutputBytes; ++k) sums_[k] = static_cast<uint8_t>(k);
    for (uint32_t i = 0; i < kInputBytes; ++i) sums_[i % kOutputBytes] += input_[i];
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, nullptr);
    memcpy(output_, sums_, kOutputBytes);
    return 0;
  }
  bool Configure(uint32_t arena, bool preserve_all) override {
    description_.arena_size = arena == 0 ? 2048 : arena;
    description_.preserve_all = preserve_all;
    description_.ready = description_.arena_size >= kArenaNeeded &&
                         description_.arena_size <= kArenaCapacity;
    description_.arena_used = description_.ready ? kArenaNeeded : 0;
    if (!description_.ready) tflm_edu::LogToHost("Failed to allocate tail memory (stand-in)");
    return description_.ready;
  }
  int ProfileCount() override { return 2; }
  tflm_edu::ProfileEvent Profile(int index) override {
    return index == 0 ? tflm_edu::ProfileEvent{10, 0, "STAND_IN_SUM"}
                      : tflm_edu::ProfileEvent{1000, 0, "STAND_IN_SLEEP"};
  }
  int Tensor(int index, const uint8_t** data, uint32_t* bytes) override {
    if (!description_.preserve_all) return tflm_edu::kErrNotAvailable;
    if (index < 0 || index > 2) return tflm_edu::kErrOutOfRange;
    *data = index == 0 ? input_ : index == 1 ? sums_ : output_;
    *bytes = index == 0 ? kInputBytes : kOutputBytes;
    return 0;
  }

 private:
  tflm_edu::BoardDescription description_;
  uint8_t input_[kInputBytes];
  uint8_t sums_[kOutputBytes];
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

// Watches the replies on the wire: after the N-th INVOKE reply it reboots the server
// silently (state gone, no ANNOUNCE), before the host can ask for the output.
class RebootingSerial : public tflm_edu::PosixSerial {
 public:
  tflm_edu::ProtocolServer* server = nullptr;
  int reboot_after = -1;
  void Write(const uint8_t* data, int length) override {
    tflm_edu::PosixSerial::Write(data, length);
    uint8_t raw[64];   // a reply's cmd byte follows its seq: decode just enough to see it
    if (server == nullptr || reboot_after <= 0 || length <= 4 || length >= 64) return;
    int n = tflm_edu::CobsDecode(data, length - 1, raw, sizeof(raw));
    if (n > 3 && raw[2] == (tflm_edu::kInvoke | tflm_edu::kReply) && --reboot_after == 0) {
      server->ResetState();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  static uint8_t sha[32];
  if (argc < 2 || !ParseHex(argv[1], sha)) {
    fprintf(stderr, "usage: %s <model sha-256 hex> [--reboot-after-invoke N] [serial device]\n",
            argv[0]);
    return 2;
  }
  RebootingSerial serial;
  const char* device = nullptr;
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "--reboot-after-invoke") == 0 && i + 1 < argc) {
      serial.reboot_after = atoi(argv[++i]);
    } else {
      device = argv[i];
    }
  }
  if (!serial.Open(device)) {
    fprintf(stderr, "cannot open the serial port\n");
    return 1;
  }
  signal(SIGUSR1, [](int) { g_reset = 1; });
  signal(SIGUSR2, [](int) { g_reset = 2; });
  printf("%s\n", serial.Path());
  fflush(stdout);
  StandInRunner runner(sha);
  tflm_edu::ProtocolServer server(serial, runner);
  serial.server = &server;
  server.Announce();
  for (;;) {
    if (g_reset == 1) server.Announce();          // a reboot: state gone, and it says so
    if (g_reset == 2) server.ResetState();        // a reboot whose ANNOUNCE is lost
    g_reset = 0;
    server.Poll();
  }
}
