// ModelRunner on TFLM: the generated model array, its op resolver and a static arena.
#ifndef TFLM_EDU_TFLM_RUNNER_H_
#define TFLM_EDU_TFLM_RUNNER_H_

#include "protocol_server.h"

namespace tflm_edu {

// The whole firmware once the board is up: a TflmRunner behind a ProtocolServer on `port`
// (whose Begin() the board's main has called), announced, polled forever.
[[noreturn]] void ServeForever(SerialPort& port);

class TflmRunner : public ModelRunner {
 public:
  // Registers the ops and builds the interpreter with the default arena; false (and
  // Describe().ready false) when AllocateTensors fails. `clock` times each op.
  bool Setup(SerialPort* clock);
  const BoardDescription& Describe() override { return description_; }
  uint8_t* InputBuffer(int index) override;
  const uint8_t* OutputBuffer(int index) override;
  int Invoke() override;
  bool Configure(uint32_t arena_bytes, bool preserve_all) override;
  int ProfileCount() override;
  ProfileEvent Profile(int index) override;
  int Tensor(int index, const uint8_t** data, uint32_t* bytes) override;

 private:
  BoardDescription description_ = {};
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_TFLM_RUNNER_H_
