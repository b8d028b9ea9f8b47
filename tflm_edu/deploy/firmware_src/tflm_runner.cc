// ModelRunner on TFLM. board_config.h, model_data.h and model_op_resolver.h are generated
// for one model by tflm_edu (tflm-edu deploy); this file is the same for every model.
#include "tflm_runner.h"

#include "board_config.h"
#include "model_data.h"
#include "model_op_resolver.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"
#if TFLM_EDU_LEGACY_API
#include "tensorflow/lite/micro/micro_error_reporter.h"
#include "tensorflow/lite/version.h"   // TFLITE_SCHEMA_VERSION lived here before
#endif

namespace tflm_edu {
namespace {

// The arena: sized by tflm_edu's estimate for Cortex-M plus a margin (see board_config.h).
alignas(16) uint8_t g_tensor_arena[kTensorArenaSize];
tflite::MicroInterpreter* g_interpreter = nullptr;
TfLiteTensor* g_input = nullptr;
TfLiteTensor* g_output = nullptr;

TensorInfo DescribeTensor(const TfLiteTensor* tensor) {
  TensorInfo info = {};
  info.type = static_cast<uint8_t>(tensor->type == kTfLiteInt8 ? 9 : tensor->type == kTfLiteUInt8 ? 3
              : tensor->type == kTfLiteInt16 ? 7 : tensor->type == kTfLiteInt32 ? 2 : 0);
  info.rank = static_cast<uint8_t>(tensor->dims->size > 6 ? 6 : tensor->dims->size);
  for (int i = 0; i < info.rank; ++i) info.dims[i] = tensor->dims->data[i];
  info.bytes = static_cast<uint32_t>(tensor->bytes);
  return info;
}

}  // namespace

bool TflmRunner::Setup() {
  description_.board = kBoardName;
  description_.firmware_version[0] = kFirmwareVersion[0];
  description_.firmware_version[1] = kFirmwareVersion[1];
  description_.firmware_version[2] = kFirmwareVersion[2];
  description_.model_sha256 = kModelSha256;
  description_.arena_size = kTensorArenaSize;
  description_.ops = kOpNames;
  description_.op_count = kOpCount;

  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) return false;
  RegisterOps();
#if TFLM_EDU_LEGACY_API
  // Arduino_TensorFlowLite / Harvard_TinyMLx predate the error-reporter-free constructor.
  static tflite::MicroErrorReporter error_reporter;
  static tflite::MicroInterpreter interpreter(model, op_resolver, g_tensor_arena,
                                              kTensorArenaSize, &error_reporter);
#else
  static tflite::MicroInterpreter interpreter(model, op_resolver, g_tensor_arena,
                                              kTensorArenaSize);
#endif
  g_interpreter = &interpreter;
  if (interpreter.AllocateTensors() != kTfLiteOk) return false;
  g_input = interpreter.input(0);
  g_output = interpreter.output(0);
  description_.arena_used = static_cast<uint32_t>(interpreter.arena_used_bytes());
  description_.input = DescribeTensor(g_input);
  description_.output = DescribeTensor(g_output);
  ready_ = true;
  return true;
}

uint8_t* TflmRunner::InputBuffer() { return g_input->data.uint8; }
const uint8_t* TflmRunner::OutputBuffer() { return g_output->data.uint8; }
int TflmRunner::Invoke() { return g_interpreter->Invoke() == kTfLiteOk ? 0 : 1; }

}  // namespace tflm_edu
