// The board side of the tflm_edu host-board protocol, version 1 (docs/protocol.md).
//
// Portable C++ with no heap and no TFLM dependency: the model is reached through the
// ModelRunner interface, the wire through SerialPort. The same state machine is written in
// Python in tflm_edu/deploy/virtual_board.py (BoardServer).
//
// Frame = COBS( seq u16 | cmd u8 | length u16 | body | crc32 u32 ) followed by 0x00.
#ifndef TFLM_EDU_PROTOCOL_SERVER_H_
#define TFLM_EDU_PROTOCOL_SERVER_H_

#include <stddef.h>
#include <stdint.h>

#include "serial_port.h"

namespace tflm_edu {

constexpr uint8_t kProtocolVersion = 1;
constexpr int kMaxChunk = 256;
constexpr int kMaxBody = 512;                            // as MAX_BODY in protocol.py
constexpr int kMaxRaw = 5 + kMaxBody + 4;                  // header + body + crc
constexpr int kMaxEncoded = kMaxRaw + kMaxRaw / 254 + 2;   // COBS overhead + delimiter

enum Command : uint8_t {
  kHello = 0x01, kSetInput = 0x02, kInvoke = 0x03, kGetOutput = 0x04,
  kAnnounce = 0x40, kError = 0x7F, kReply = 0x80,
};

enum ErrorCode : uint8_t {
  kErrUnknownCommand = 1, kErrBadLength = 2, kErrOutOfRange = 3,
  kErrInputIncomplete = 4, kErrInvokeFailed = 5, kErrNotReady = 6,
};

// What INFO says about one tensor: TfLiteType code, rank, dims, size in bytes.
struct TensorInfo {
  uint8_t type;
  uint8_t rank;
  uint32_t dims[6];
  uint32_t bytes;
};

struct BoardDescription {
  const char* board;
  uint8_t firmware_version[3];   // major, minor, patch
  const uint8_t* model_sha256;   // 32 bytes
  uint32_t arena_size;
  uint32_t arena_used;
  TensorInfo input;
  TensorInfo output;
  const char* const* ops;
  uint8_t op_count;
};

// The model, as the server sees it: two buffers and an Invoke.
class ModelRunner {
 public:
  virtual ~ModelRunner() {}
  virtual bool Ready() = 0;                       // false if allocation failed
  virtual uint8_t* InputBuffer() = 0;             // input.bytes long
  virtual const uint8_t* OutputBuffer() = 0;      // output.bytes long
  virtual int Invoke() = 0;                       // 0 on success
  virtual const BoardDescription& Describe() = 0;
};

uint32_t Crc32(const uint8_t* data, size_t length, uint32_t crc = 0);
// COBS: returns the encoded length (no delimiter). `out` needs length + length/254 + 1.
size_t CobsEncode(const uint8_t* in, size_t length, uint8_t* out);
// Returns the decoded length, or -1 if `in` is not valid COBS or does not fit `capacity`.
int CobsDecode(const uint8_t* in, size_t length, uint8_t* out, size_t capacity);

class ProtocolServer {
 public:
  ProtocolServer(SerialPort& port, ModelRunner& runner) : port_(port), runner_(runner) {}
  // Call once after boot: tells the host that this board (re)started.
  void Announce();
  // Call in the main loop: reads what has arrived, answers every complete frame.
  void Poll();
  // Forget partial input, as a reset does (used by tests and by a watchdog restart).
  void ResetState() { received_ = 0; }

  uint32_t frames_dropped() const { return frames_dropped_; }

 private:
  void OnPacket(const uint8_t* packet, size_t length);
  void Handle(uint16_t seq, uint8_t cmd, const uint8_t* body, uint16_t length);
  void HandleSetInput(uint16_t seq, const uint8_t* body, uint16_t length);
  void HandleInvoke(uint16_t seq);
  void HandleGetOutput(uint16_t seq, const uint8_t* body, uint16_t length);
  size_t InfoBody(uint8_t* out);
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
  uint32_t received_ = 0;          // input bytes held, without gaps
  uint32_t frames_dropped_ = 0;
  uint32_t last_latency_us_ = 0;
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_PROTOCOL_SERVER_H_
