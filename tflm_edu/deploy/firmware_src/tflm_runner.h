// ModelRunner on TFLM: the generated model array, its op resolver and a static arena.
#ifndef TFLM_EDU_TFLM_RUNNER_H_
#define TFLM_EDU_TFLM_RUNNER_H_

#include "protocol_server.h"

namespace tflm_edu {

class TflmRunner : public ModelRunner {
 public:
  // Builds the interpreter and allocates tensors; false (and Ready() false) on failure.
  bool Setup();
  bool Ready() override { return ready_; }
  uint8_t* InputBuffer() override;
  const uint8_t* OutputBuffer() override;
  int Invoke() override;
  const BoardDescription& Describe() override { return description_; }

 private:
  bool ready_ = false;
  BoardDescription description_ = {};
};

}  // namespace tflm_edu

#endif  // TFLM_EDU_TFLM_RUNNER_H_
