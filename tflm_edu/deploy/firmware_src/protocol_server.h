// The board side of the tflm_edu host-board protocol, version 2 (docs/protocol.md).
//
// Portable C++ with no heap and no TFLM dependency: the model is reached through the
// ModelRunner interface, the wire and the clock through SerialPort. The same state machine
// is written in Python in tflm_edu/deploy/virtual_board.py (BoardServer); the numbers both
// use come from protocol_constants.h, which tflm_edu writes from its protocol.py.
//
// Frame = COBS( seq u16 | cmd u8 | length u16 | body | crc32 u32 ) followed by 0x00.
#ifndef TFLM_EDU_PROTOCOL_SERVER_H_
#define TFLM_EDU_PROTOCOL_SERVER_H_

#include <stddef.h>
#include <stdint.h>

#include "protocol_constants.h"
#include "serial_port.h"

namespace tflm_edu {

constexpr int kMaxRaw = 5 + kMaxBody + 4;                  // header + body + crc
constexpr int kMaxEncoded = kMaxRaw + kMaxRaw / 254 + 2;   // COBS overhead + delimiter

// What INFO says about one tensor: TFLite schema TensorType code, rank, dims, bytes.
struct TensorInfo {
  uint8_t type;
  uint8_t rank;
  uint32_t dims[kMaxRank];
  uint32_t bytes;
};

struct BoardDescription {
  const char* board;
  uint8_t firmware_version[3];   // major, minor, patch
  const uint8_t* model_sha256;   // 32 bytes
  uint32_t arena_capacity;       // the static buffer
  uint32_t arena_size;           // what the interpreter was given
  uint32_t arena_used;           // TFLM's arena_used_bytes(), 0 when not ready
  bool ready;
  bool preserve_all;
  uint8_t input_count;
  uint8_t output_count;
  TensorInfo inputs[kMaxTensors];
  TensorInfo outputs[kMaxTensors];
  const char* const* ops;
  uint8_t op_count;
};

// One op of the last invoke, as the board's counter timed it.
struct ProfileEvent {
  uint32_t counter;
  uint8_t depth;                 // 0: main subgraph; more inside subgraph calls
  const char* tag;               // TFLM's op name
};

// The model, as the server sees it.
class ModelRunner {
 public:
  virtual ~ModelRunner() {}
  virtual const BoardDescription& Describe() = 0;
  virtual uint8_t* InputBuffer(int index) = 0;           // inputs[index].bytes long
  virtual const uint8_t* OutputBuffer(int index) = 0;    // outputs[index].bytes long
  virtual int Invoke() = 0;                              // 0 on success
  // Rebuild the interpreter in `arena_bytes` (0: the default), optionally keeping every
  // tensor; false if AllocateTensors failed (the runner is then not ready).
  virtual bool Configure(uint32_t arena_bytes, bool preserve_all) {
    (void)arena_bytes;
    (void)preserve_all;
    return Describe().ready;
  }
  virtual int ProfileCount() { return 0; }
  virtual ProfileEvent Profile(int index) {
    (void)index;
    return ProfileEvent{0, 0, ""};
  }
  // Tensor `index` of subgraph 0: 0 and its bytes, or kErrNotAvailable / kErrOutOfRange.
  virtual int Tensor(int index, const uint8_t** data, uint32_t* bytes) {
    (void)index;
    (void)data;
    (void)bytes;
    return kErrNotAvailable;
  }
};

uint32_t Crc32(const uint8_t* data, size_t length, uint32_t crc = 0);
// COBS: returns the encoded length (no delimiter). `out` needs length + length/254 + 1.
size_t CobsEncode(const uint8_t* in, size_t length, uint8_t* out);
// Returns the decoded length, or -1 if `in` is not valid COBS or does not fit `capacity`.
int CobsDecode(const uint8_t* in, size_t length, uint8_t* out, size_t capacity);

// Sends `text` to the host as a LOG frame through the server that exists, if any: the
// firmware routes TFLM's MicroPrintf here, so "Failed to allocate..." reaches the notebook.
void LogToHost(const char* text);

class ProtocolServer {
 public:
  ProtocolServer(SerialPort& port, ModelRunner& runner);
  // Call once after boot: tells the host that this board (re)started.
  void Announce();
  // Call in the main loop: reads what has arrived, answers every complete frame.
  void Poll();
  // Forget everything a boot forgets: session, invoke count, partial input.
  void ResetState();
  void Log(const char* text);

  uint32_t frames_dropped() const { return frames_dropped_; }

 private:
  void OnPacket(const uint8_t* packet, size_t length);
  void Handle(uint16_t seq, uint8_t cmd, const uint8_t* body, uint16_t length);
  void HandleHello(uint16_t seq, const uint8_t* body, uint16_t length);
  void HandleSetInput(uint16_t seq, const uint8_t* body, uint16_t length);
  void HandleInvoke(uint16_t seq);
  void HandleGetOutput(uint16_t seq, const uint8_t* body, uint16_t length);
  void HandleGetProfile(uint16_t seq, const uint8_t* body, uint16_t length);
  void HandleGetTensor(uint16_t seq, const uint8_t* body, uint16_t length);
  void HandleConfigure(uint16_t seq, const uint8_t* body, uint16_t length);
  size_t InfoBody(uint8_t* out);
  size_t ResultHeader(uint8_t* out);            // session u32, invoke u32
  uint32_t CrcOfTensors(bool outputs);
  void Send(uint16_t seq, uint8_t cmd, const uint8_t* body, uint16_t length);
  void SendError(uint16_t seq, ErrorCode code, const char* message);

  SerialPort& port_;
  ModelRunner& runner_;
  uint8_t rx_[2 * kMaxEncoded];
  size_t rx_length_ = 0;
  bool rx_overflow_ = false;
  uint8_t raw_[kMaxRaw];
  uint8_t body_[kMaxBody];
  uint8_t tx_[kMaxEncoded];
  uint32_t session_ = 0;           // the host's boot id; 0 after every boot
  uint32_t invokes_ = 0;           // invokes run since boot
  uint32_t output_invoke_ = 0;     // the invoke the output buffers (and profile) come from
  uint32_t held_[kMaxTensors] = {};  // input bytes held, without gaps
  uint32_t frames_dropped_ = 0;
  bool sending_ = false;           // Send is not re-entered by a log line
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_PROTOCOL_SERVER_H_
