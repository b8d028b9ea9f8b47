// The board side of the tflm_edu protocol v2; see protocol_server.h and docs/protocol.md.
#include "protocol_server.h"

#include <string.h>

namespace tflm_edu {
namespace {

ProtocolServer* g_server = nullptr;   // where LogToHost sends; set by the constructor

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

size_t PutTensors(uint8_t* p, const TensorInfo* tensors, uint8_t count) {
  size_t n = 0;
  p[n++] = count;
  for (int t = 0; t < count; ++t) {
    p[n++] = tensors[t].type;
    p[n++] = tensors[t].rank;
    for (int i = 0; i < tensors[t].rank; ++i, n += 4) PutU32(p + n, tensors[t].dims[i]);
  }
  return n;
}

}  // namespace

// CRC-32 as zlib.crc32 (reflected polynomial 0xEDB88320), a nibble at a time: a 64-byte
// table instead of 1 KB, fast enough for the frames and the tensors of one invoke.
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

void LogToHost(const char* text) {
  if (g_server != nullptr) g_server->Log(text);
}

ProtocolServer::ProtocolServer(SerialPort& port, ModelRunner& runner)
    : port_(port), runner_(runner) {
  g_server = this;
}

void ProtocolServer::ResetState() {
  session_ = 0;
  invokes_ = 0;
  output_invoke_ = 0;
  for (int i = 0; i < kMaxTensors; ++i) held_[i] = 0;
}

void ProtocolServer::Announce() {
  ResetState();
  size_t n = InfoBody(body_);
  Send(0, kAnnounce, body_, static_cast<uint16_t>(n));
}

void ProtocolServer::Log(const char* text) {
  if (sending_) return;               // a line logged while a frame goes out is dropped
  static uint8_t line[kMaxChunk];
  size_t n = strlen(text);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) --n;
  if (n == 0) return;                  // TFLM ends its lines with a separate newline
  if (n > sizeof(line)) n = sizeof(line);
  memcpy(line, text, n);
  Send(0, kLog, line, static_cast<uint16_t>(n));
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
  // The body moves to body_ so that raw_ is free for the reply.
  memcpy(body_, raw_ + 5, body_length);
  Handle(GetU16(raw_), raw_[2], body_, body_length);
}

void ProtocolServer::Handle(uint16_t seq, uint8_t cmd, const uint8_t* body, uint16_t length) {
  if (!runner_.Describe().ready && cmd != kHello && cmd != kConfigure) {
    SendError(seq, kErrNotReady, "the model did not allocate; see INFO arena and the LOG");
    return;
  }
  switch (cmd) {
    case kHello: HandleHello(seq, body, length); break;
    case kSetInput: HandleSetInput(seq, body, length); break;
    case kInvoke: HandleInvoke(seq); break;
    case kGetOutput: HandleGetOutput(seq, body, length); break;
    case kGetProfile: HandleGetProfile(seq, body, length); break;
    case kGetTensor: HandleGetTensor(seq, body, length); break;
    case kConfigure: HandleConfigure(seq, body, length); break;
    default: SendError(seq, kErrUnknownCommand, "unknown command");
  }
}

void ProtocolServer::HandleHello(uint16_t seq, const uint8_t* body, uint16_t length) {
  if (length != 4) { SendError(seq, kErrBadLength, "HELLO needs session u32"); return; }
  session_ = GetU32(body);
  uint8_t info[kMaxBody];
  size_t n = InfoBody(info);
  Send(seq, kHello | kReply, info, static_cast<uint16_t>(n));
}

void ProtocolServer::HandleSetInput(uint16_t seq, const uint8_t* body, uint16_t length) {
  if (length < 5) {
    SendError(seq, kErrBadLength, "SET_INPUT needs tensor u8, offset u32, data");
    return;
  }
  const BoardDescription& d = runner_.Describe();
  uint8_t tensor = body[0];
  uint32_t offset = GetU32(body + 1);
  uint32_t count = length - 5u;
  // Chunks may repeat (a retry) but never leave a gap: the host sends them in order.
  if (tensor >= d.input_count || offset > held_[tensor] ||
      count > d.inputs[tensor].bytes - offset) {
    SendError(seq, kErrOutOfRange, "input chunk out of order or past the end");
    return;
  }
  memcpy(runner_.InputBuffer(tensor) + offset, body + 5, count);
  if (offset + count > held_[tensor]) held_[tensor] = offset + count;
  uint8_t reply[9];
  PutU32(reply, session_);
  reply[4] = tensor;
  PutU32(reply + 5, held_[tensor]);
  Send(seq, kSetInput | kReply, reply, sizeof(reply));
}

uint32_t ProtocolServer::CrcOfTensors(bool outputs) {
  const BoardDescription& d = runner_.Describe();
  uint32_t crc = 0;
  int count = outputs ? d.output_count : d.input_count;
  for (int i = 0; i < count; ++i) {
    if (outputs) crc = Crc32(runner_.OutputBuffer(i), d.outputs[i].bytes, crc);
    else crc = Crc32(runner_.InputBuffer(i), d.inputs[i].bytes, crc);
  }
  return crc;
}

void ProtocolServer::HandleInvoke(uint16_t seq) {
  const BoardDescription& d = runner_.Describe();
  for (int i = 0; i < d.input_count; ++i) {
    if (held_[i] < d.inputs[i].bytes) {
      SendError(seq, kErrInputIncomplete, "not every input byte has arrived");
      return;
    }
  }
  uint32_t input_crc = CrcOfTensors(false);
  uint32_t start_us = port_.Micros();
  uint32_t start = port_.Counter();
  int status = runner_.Invoke();
  uint32_t counter = port_.Counter() - start;
  uint32_t latency_us = port_.Micros() - start_us;
  if (status == 0) output_invoke_ = ++invokes_;
  // The planner may reuse input bytes for other tensors: the next invoke needs new input.
  for (int i = 0; i < kMaxTensors; ++i) held_[i] = 0;
  uint8_t reply[33];
  reply[0] = static_cast<uint8_t>(status);
  PutU32(reply + 1, session_);
  PutU32(reply + 5, invokes_);
  PutU32(reply + 9, input_crc);
  PutU32(reply + 13, CrcOfTensors(true));
  PutU32(reply + 17, counter);
  PutU32(reply + 21, latency_us);
  memcpy(reply + 25, d.model_sha256, 8);   // so a reply from another model is never taken
  Send(seq, kInvoke | kReply, reply, sizeof(reply));
}

size_t ProtocolServer::ResultHeader(uint8_t* out) {
  PutU32(out, session_);
  PutU32(out + 4, output_invoke_);
  return 8;
}

void ProtocolServer::HandleGetOutput(uint16_t seq, const uint8_t* body, uint16_t length) {
  if (length != 7) {
    SendError(seq, kErrBadLength, "GET_OUTPUT needs tensor u8, offset u32, length u16");
    return;
  }
  const BoardDescription& d = runner_.Describe();
  uint8_t tensor = body[0];
  uint32_t offset = GetU32(body + 1);
  uint32_t count = GetU16(body + 5);
  if (count > static_cast<uint32_t>(kMaxChunk)) count = kMaxChunk;
  if (tensor >= d.output_count || offset > d.outputs[tensor].bytes ||
      count > d.outputs[tensor].bytes - offset) {   // written so that it cannot overflow
    SendError(seq, kErrOutOfRange, "output range past the end");
    return;
  }
  uint8_t reply[13 + kMaxChunk];
  size_t n = ResultHeader(reply);
  reply[n++] = tensor;
  PutU32(reply + n, offset);
  n += 4;
  memcpy(reply + n, runner_.OutputBuffer(tensor) + offset, count);
  Send(seq, kGetOutput | kReply, reply, static_cast<uint16_t>(n + count));
}

void ProtocolServer::HandleGetProfile(uint16_t seq, const uint8_t* body, uint16_t length) {
  if (length != 2) { SendError(seq, kErrBadLength, "GET_PROFILE needs first u16"); return; }
  if (output_invoke_ == 0) { SendError(seq, kErrNotAvailable, "no invoke has run yet"); return; }
  int total = runner_.ProfileCount();
  int first = GetU16(body);
  uint8_t reply[kMaxBody];
  size_t n = ResultHeader(reply);
  PutU16(reply + n, static_cast<uint16_t>(total));
  PutU16(reply + n + 2, static_cast<uint16_t>(first));
  size_t count_at = n + 4;
  n += 5;
  uint8_t count = 0;
  for (int i = first; i < total && count < 255; ++i, ++count) {
    ProfileEvent event = runner_.Profile(i);
    size_t tag = strlen(event.tag);
    if (tag > 255) tag = 255;
    if (n + 6 + tag > static_cast<size_t>(kMaxBody)) break;
    PutU32(reply + n, event.counter);
    reply[n + 4] = event.depth;
    n += 5;
    n += PutString(reply + n, event.tag, 256);
  }
  reply[count_at] = count;
  Send(seq, kGetProfile | kReply, reply, static_cast<uint16_t>(n));
}

void ProtocolServer::HandleGetTensor(uint16_t seq, const uint8_t* body, uint16_t length) {
  if (length != 8) {
    SendError(seq, kErrBadLength, "GET_TENSOR needs tensor u16, offset u32, length u16");
    return;
  }
  uint16_t index = GetU16(body);
  uint32_t offset = GetU32(body + 2);
  uint32_t count = GetU16(body + 6);
  if (count > static_cast<uint32_t>(kMaxChunk)) count = kMaxChunk;
  const uint8_t* data = nullptr;
  uint32_t bytes = 0;
  int status = runner_.Tensor(index, &data, &bytes);
  if (status == kErrNotAvailable) {
    SendError(seq, kErrNotAvailable, "tensors are not preserved: CONFIGURE with preserve-all");
    return;
  }
  if (status != 0 || offset > bytes) {
    SendError(seq, kErrOutOfRange, "no such tensor, or an offset past its end");
    return;
  }
  if (count > bytes - offset) count = bytes - offset;   // the host learns the size from `bytes`
  uint8_t reply[18 + kMaxChunk];
  size_t n = ResultHeader(reply);
  PutU16(reply + n, index);
  PutU32(reply + n + 2, bytes);
  PutU32(reply + n + 6, offset);
  n += 10;
  memcpy(reply + n, data + offset, count);
  Send(seq, kGetTensor | kReply, reply, static_cast<uint16_t>(n + count));
}

void ProtocolServer::HandleConfigure(uint16_t seq, const uint8_t* body, uint16_t length) {
  if (length != 5) { SendError(seq, kErrBadLength, "CONFIGURE needs arena u32, flags u8"); return; }
  bool ok = runner_.Configure(GetU32(body), (body[4] & kConfigurePreserveAll) != 0);
  for (int i = 0; i < kMaxTensors; ++i) held_[i] = 0;
  output_invoke_ = 0;   // the old interpreter's outputs, profile and tensors are gone
  const BoardDescription& d = runner_.Describe();
  uint8_t reply[9];
  reply[0] = ok ? 0 : 1;
  PutU32(reply + 1, d.arena_size);
  PutU32(reply + 5, d.arena_used);
  Send(seq, kConfigure | kReply, reply, sizeof(reply));
}

size_t ProtocolServer::InfoBody(uint8_t* out) {
  const BoardDescription& d = runner_.Describe();
  size_t n = 0;
  out[n++] = kProtocolVersion;
  for (int i = 0; i < 3; ++i) out[n++] = d.firmware_version[i];
  PutU32(out + n, session_);
  n += 4;
  memcpy(out + n, d.model_sha256, 32);
  n += 32;
  PutU32(out + n, d.arena_capacity);
  PutU32(out + n + 4, d.arena_size);
  PutU32(out + n + 8, d.arena_used);
  n += 12;
  out[n++] = (d.ready ? kFlagReady : 0) | (d.preserve_all ? kFlagPreserveAll : 0);
  out[n++] = port_.CounterUnit();
  PutU32(out + n, port_.ClockHz());
  n += 4;
  // Tensors: at most 2 * 8 * (2 + 4 * 8) = 544 bytes in theory; the runner keeps to what
  // a real model needs, and the names below fill what is left.
  n += PutTensors(out + n, d.inputs, d.input_count);
  n += PutTensors(out + n, d.outputs, d.output_count);
  n += PutString(out + n, d.board, kMaxBody - n - 1);
  size_t count_at = n++;
  uint8_t count = 0;
  for (uint8_t i = 0; i < d.op_count; ++i, ++count) {
    size_t name = strlen(d.ops[i]);
    if (name > 255) name = 255;
    if (n + 1 + name > static_cast<size_t>(kMaxBody)) break;
    n += PutString(out + n, d.ops[i], kMaxBody - n);
  }
  out[count_at] = count;
  return n;
}

void ProtocolServer::Send(uint16_t seq, uint8_t cmd, const uint8_t* body, uint16_t length) {
  sending_ = true;
  PutU16(raw_, seq);
  raw_[2] = cmd;
  PutU16(raw_ + 3, length);
  memmove(raw_ + 5, body, length);
  PutU32(raw_ + 5 + length, Crc32(raw_, 5 + length));
  size_t n = CobsEncode(raw_, 5 + length + 4, tx_);
  tx_[n++] = 0;
  port_.Write(tx_, static_cast<int>(n));
  sending_ = false;
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
