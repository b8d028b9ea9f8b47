// The board side of the tflm_edu protocol v1; see protocol_server.h and docs/protocol.md.
#include "protocol_server.h"

#include <string.h>

namespace tflm_edu {
namespace {

void PutU16(uint8_t* p, uint16_t v) { p[0] = v & 0xFF; p[1] = v >> 8; }
void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = (v >> (8 * i)) & 0xFF;
}
uint16_t GetU16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t GetU32(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

size_t PutString(uint8_t* p, const char* text, size_t room) {
  size_t n = strlen(text);
  if (n > 255) n = 255;
  if (n + 1 > room) n = room > 0 ? room - 1 : 0;
  p[0] = static_cast<uint8_t>(n);
  memcpy(p + 1, text, n);
  return n + 1;
}

size_t PutTensor(uint8_t* p, const TensorInfo& t) {
  p[0] = t.type;
  p[1] = t.rank;
  for (int i = 0; i < t.rank; ++i) PutU32(p + 2 + 4 * i, t.dims[i]);
  return 2 + 4 * t.rank;
}

}  // namespace

// CRC-32 as zlib.crc32 (reflected polynomial 0xEDB88320), a nibble at a time: a 64-byte
// table instead of 1 KB, fast enough for a few hundred bytes per frame.
uint32_t Crc32(const uint8_t* data, size_t length, uint32_t crc) {
  static const uint32_t kTable[16] = {
      0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4,
      0x4DB26158, 0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
      0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C};
  crc = ~crc;
  for (size_t i = 0; i < length; ++i) {
    crc ^= data[i];
    crc = (crc >> 4) ^ kTable[crc & 0x0F];
    crc = (crc >> 4) ^ kTable[crc & 0x0F];
  }
  return ~crc;
}

size_t CobsEncode(const uint8_t* in, size_t length, uint8_t* out) {
  size_t code_at = 0, o = 1;
  uint8_t code = 1;
  for (size_t i = 0; i < length; ++i) {
    if (in[i] == 0) {
      out[code_at] = code;
      code_at = o++;
      code = 1;
    } else {
      out[o++] = in[i];
      if (++code == 0xFF) {   // a full block of 254 non-zero bytes
        out[code_at] = code;
        code_at = o++;
        code = 1;
      }
    }
  }
  out[code_at] = code;
  return o;
}

int CobsDecode(const uint8_t* in, size_t length, uint8_t* out, size_t capacity) {
  size_t i = 0, o = 0;
  while (i < length) {
    uint8_t code = in[i];
    if (code == 0 || i + code > length) return -1;
    for (size_t k = 1; k < code; ++k) {
      if (in[i + k] == 0 || o >= capacity) return -1;
      out[o++] = in[i + k];
    }
    i += code;
    if (code < 0xFF && i < length) {
      if (o >= capacity) return -1;
      out[o++] = 0;
    }
  }
  return static_cast<int>(o);
}

void ProtocolServer::Announce() {
  received_ = 0;
  size_t n = InfoBody(body_);
  Send(0, kAnnounce, body_, static_cast<uint16_t>(n));
}

void ProtocolServer::Poll() {
  uint8_t chunk[64];
  int n;
  while ((n = port_.Read(chunk, sizeof(chunk))) > 0) {
    for (int i = 0; i < n; ++i) {
      if (chunk[i] != 0) {
        // Too long for any valid frame: keep dropping until the next delimiter.
        if (rx_length_ < sizeof(rx_)) rx_[rx_length_++] = chunk[i];
        else rx_overflow_ = true;
        continue;
      }
      if (rx_length_ > 0) {
        if (rx_overflow_) ++frames_dropped_;
        else OnPacket(rx_, rx_length_);
      }
      rx_length_ = 0;
      rx_overflow_ = false;
    }
  }
}

void ProtocolServer::OnPacket(const uint8_t* packet, size_t length) {
  int raw_length = CobsDecode(packet, length, raw_, sizeof(raw_));
  if (raw_length < 9) { ++frames_dropped_; return; }
  uint16_t body_length = GetU16(raw_ + 3);
  if (static_cast<size_t>(raw_length) != 5u + body_length + 4u ||
      Crc32(raw_, raw_length - 4) != GetU32(raw_ + raw_length - 4)) {
    ++frames_dropped_;   // damaged: the host will time out and resend
    return;
  }
  Handle(GetU16(raw_), raw_[2], raw_ + 5, body_length);
}

void ProtocolServer::Handle(uint16_t seq, uint8_t cmd, const uint8_t* body, uint16_t length) {
  if (!runner_.Ready() && cmd != kHello) {
    SendError(seq, kErrNotReady, "the model did not allocate; see INFO arena");
    return;
  }
  switch (cmd) {
    case kHello: {
      size_t n = InfoBody(body_);
      Send(seq, kHello | kReply, body_, static_cast<uint16_t>(n));
      break;
    }
    case kSetInput: HandleSetInput(seq, body, length); break;
    case kInvoke: HandleInvoke(seq); break;
    case kGetOutput: HandleGetOutput(seq, body, length); break;
    default: SendError(seq, kErrUnknownCommand, "unknown command");
  }
}

void ProtocolServer::HandleSetInput(uint16_t seq, const uint8_t* body, uint16_t length) {
  if (length < 4) { SendError(seq, kErrBadLength, "SET_INPUT needs offset u32 + data"); return; }
  uint32_t offset = GetU32(body);
  uint32_t count = length - 4u;
  uint32_t total = runner_.Describe().input.bytes;
  // Chunks may repeat (a retry) but never leave a gap: the host sends them in order.
  if (offset > received_ || offset + count > total) {
    SendError(seq, kErrOutOfRange, "input chunk out of order or past the end");
    return;
  }
  memcpy(runner_.InputBuffer() + offset, body + 4, count);
  if (offset + count > received_) received_ = offset + count;
  uint8_t reply[4];
  PutU32(reply, received_);
  Send(seq, kSetInput | kReply, reply, 4);
}

void ProtocolServer::HandleInvoke(uint16_t seq) {
  const BoardDescription& d = runner_.Describe();
  if (received_ < d.input.bytes) {
    SendError(seq, kErrInputIncomplete, "not every input byte has arrived");
    return;
  }
  uint32_t start = port_.Micros();
  int status = runner_.Invoke();
  last_latency_us_ = port_.Micros() - start;
  uint8_t reply[13];
  reply[0] = static_cast<uint8_t>(status);
  PutU32(reply + 1, last_latency_us_);
  memcpy(reply + 5, d.model_sha256, 8);   // so a reply from another model is never taken
  Send(seq, kInvoke | kReply, reply, sizeof(reply));
}

void ProtocolServer::HandleGetOutput(uint16_t seq, const uint8_t* body, uint16_t length) {
  if (length != 6) { SendError(seq, kErrBadLength, "GET_OUTPUT needs offset u32, length u16"); return; }
  uint32_t offset = GetU32(body);
  uint32_t count = GetU16(body + 4);
  if (count > static_cast<uint32_t>(kMaxChunk)) count = kMaxChunk;
  uint32_t total = runner_.Describe().output.bytes;
  if (offset > total || count > total - offset) {   // written so that it cannot overflow
    SendError(seq, kErrOutOfRange, "output range past the end");
    return;
  }
  memcpy(body_, body, 4);
  memcpy(body_ + 4, runner_.OutputBuffer() + offset, count);
  Send(seq, kGetOutput | kReply, body_, static_cast<uint16_t>(4 + count));
}

size_t ProtocolServer::InfoBody(uint8_t* out) {
  const BoardDescription& d = runner_.Describe();
  size_t n = 0;
  out[n++] = kProtocolVersion;
  for (int i = 0; i < 3; ++i) out[n++] = d.firmware_version[i];
  memcpy(out + n, d.model_sha256, 32);
  n += 32;
  PutU32(out + n, d.arena_size);
  PutU32(out + n + 4, d.arena_used);
  n += 8;
  n += PutTensor(out + n, d.input);
  n += PutTensor(out + n, d.output);
  n += PutString(out + n, d.board, kMaxBody - n - 1);
  size_t count_at = n++;
  uint8_t count = 0;
  for (uint8_t i = 0; i < d.op_count && n + 2 < static_cast<size_t>(kMaxBody); ++i, ++count) {
    n += PutString(out + n, d.ops[i], kMaxBody - n);
  }
  out[count_at] = count;
  return n;
}

void ProtocolServer::Send(uint16_t seq, uint8_t cmd, const uint8_t* body, uint16_t length) {
  PutU16(raw_, seq);
  raw_[2] = cmd;
  PutU16(raw_ + 3, length);
  memmove(raw_ + 5, body, length);
  PutU32(raw_ + 5 + length, Crc32(raw_, 5 + length));
  size_t n = CobsEncode(raw_, 5 + length + 4, tx_);
  tx_[n++] = 0;
  port_.Write(tx_, static_cast<int>(n));
}

void ProtocolServer::SendError(uint16_t seq, ErrorCode code, const char* message) {
  uint8_t reply[100];
  reply[0] = code;
  size_t n = strlen(message);
  if (n > sizeof(reply) - 1) n = sizeof(reply) - 1;
  memcpy(reply + 1, message, n);
  Send(seq, kError, reply, static_cast<uint16_t>(1 + n));
}

}  // namespace tflm_edu
