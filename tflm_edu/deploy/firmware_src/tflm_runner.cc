// ModelRunner on TFLM. board_config.h, model_data.h and model_op_resolver.h are generated
// for one model by tflm_edu (tflm-edu deploy); this file is the same for every model.
//
// The interpreter lives in static storage and is built again (placement new) whenever the
// host asks for another arena size or for every tensor to be kept: that is how the host
// bisects the smallest arena TFLM accepts, and reads intermediate tensors, on the board.
#include "tflm_runner.h"

#include <new>

#include "board_config.h"
#include "model_data.h"
#include "model_op_resolver.h"
#include "tensorflow/lite/micro/memory_helpers.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/micro/micro_resource_variable.h"
#include "tensorflow/lite/schema/schema_generated.h"

// TFLM releases before 2023 (the Arduino libraries of the TF 2.4 era among them) need an
// ErrorReporter and cannot keep every tensor; their micro_error_reporter.h gives them away.
#if __has_include("tensorflow/lite/micro/micro_error_reporter.h")
#define TFLM_EDU_LEGACY_API 1
#include "tensorflow/lite/micro/micro_error_reporter.h"
#include "tensorflow/lite/version.h"   // TFLITE_SCHEMA_VERSION lived here before
#else
#define TFLM_EDU_LEGACY_API 0
#endif
#if TFLM_EDU_LOG_TO_HOST
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#endif

namespace tflm_edu {
namespace {

// The arena: its capacity and default size come from tflm_edu's estimate for this target
// plus a margin (see board_config.h).
alignas(16) uint8_t g_tensor_arena[kTensorArenaCapacity];

// Times each op with the board's counter. TFLM opens one event per op it invokes (named
// after the op) and nests the ops of called subgraphs inside.
class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  static constexpr int kMaxEvents = 512;
  void Start(SerialPort* clock) {
    clock_ = clock;
    count_ = 0;
    depth_ = 0;
  }
  uint32_t BeginEvent(const char* tag) override {
    if (count_ >= kMaxEvents) return kMaxEvents;
    events_[count_] = ProfileEvent{clock_ ? clock_->Counter() : 0, depth_++, tag ? tag : "?"};
    return static_cast<uint32_t>(count_++);
  }
  void EndEvent(uint32_t handle) override {
    if (depth_ > 0) --depth_;
    if (handle >= static_cast<uint32_t>(count_)) return;
    uint32_t now = clock_ ? clock_->Counter() : 0;
    events_[handle].counter = now - events_[handle].counter;
  }
  int count() const { return count_; }
  const ProfileEvent& event(int i) const { return events_[i]; }

 private:
  SerialPort* clock_ = nullptr;
  ProfileEvent events_[kMaxEvents];
  int count_ = 0;
  uint8_t depth_ = 0;
};

OpProfiler g_profiler;
SerialPort* g_clock = nullptr;
alignas(tflite::MicroInterpreter) uint8_t g_interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter* g_interpreter = nullptr;

// TfLiteType -> the TensorType code of TFLite's schema, which the protocol uses.
int SchemaType(TfLiteType type) {
  switch (type) {
    case kTfLiteFloat32: return 0;
    case kTfLiteFloat16: return 1;
    case kTfLiteInt32: return 2;
    case kTfLiteUInt8: return 3;
    case kTfLiteInt64: return 4;
    case kTfLiteBool: return 6;
    case kTfLiteInt16: return 7;
    case kTfLiteInt8: return 9;
    case kTfLiteFloat64: return 10;
    case kTfLiteUInt64: return 12;
    case kTfLiteUInt32: return 15;
    case kTfLiteUInt16: return 16;
    default: return -1;
  }
}

// False (with a LOG line) for a tensor INFO cannot describe.
bool DescribeTensor(const TfLiteTensor* tensor, TensorInfo* info) {
  int type = SchemaType(tensor->type);
  if (type < 0 || tensor->dims->size > kMaxRank) {
    LogToHost("tflm_edu: an input or output has a type or rank the protocol cannot describe");
    return false;
  }
  info->type = static_cast<uint8_t>(type);
  info->rank = static_cast<uint8_t>(tensor->dims->size);
  for (int i = 0; i < info->rank; ++i) info->dims[i] = tensor->dims->data[i];
  info->bytes = static_cast<uint32_t>(tensor->bytes);
  return true;
}

#if TFLM_EDU_LOG_TO_HOST
void LogLine(const char* text) { LogToHost(text); }
#endif

}  // namespace

bool TflmRunner::Setup(SerialPort* clock) {
  g_clock = clock;
  description_.board = kBoardName;
  description_.firmware_version[0] = kFirmwareVersion[0];
  description_.firmware_version[1] = kFirmwareVersion[1];
  description_.firmware_version[2] = kFirmwareVersion[2];
  description_.model_sha256 = kModelSha256;
  description_.arena_capacity = kTensorArenaCapacity;
  description_.ops = kOpNames;
  description_.op_count = kOpCount;
#if TFLM_EDU_LOG_TO_HOST
  RegisterDebugLogCallback(LogLine);
#endif
  RegisterOps();
  return Configure(0, false);
}

bool TflmRunner::Configure(uint32_t arena_bytes, bool preserve_all) {
  if (arena_bytes == 0) arena_bytes = kTensorArenaSize;
  if (arena_bytes > kTensorArenaCapacity) arena_bytes = kTensorArenaCapacity;
  if (g_interpreter != nullptr) {
    g_interpreter->~MicroInterpreter();
    g_interpreter = nullptr;
  }
  description_.ready = false;
  description_.arena_size = arena_bytes;
  description_.arena_used = 0;
  description_.preserve_all = preserve_all;
  description_.input_count = description_.output_count = 0;
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    LogToHost("tflm_edu: the model's schema version is not the one this TFLM reads");
    return false;
  }
#if TFLM_EDU_LEGACY_API
  // Arduino_TensorFlowLite / Harvard_TinyMLx predate the error-reporter-free constructor
  // and cannot keep every tensor.
  static tflite::MicroErrorReporter error_reporter;
  g_interpreter = new (g_interpreter_storage) tflite::MicroInterpreter(
      model, op_resolver, g_tensor_arena, arena_bytes, &error_reporter);
#elif TFLM_EDU_RESOURCE_VARIABLES > 0
  // A model with resource variables: the allocator first, then the variable store in its
  // tail, then the interpreter on that allocator (what the arena constructor does, plus
  // the store). Keeping every tensor means the linear planner, as that constructor picks.
  tflite::MicroAllocator* allocator = tflite::MicroAllocator::Create(
      g_tensor_arena, arena_bytes,
      preserve_all ? tflite::MemoryPlannerType::kLinear : tflite::MemoryPlannerType::kGreedy);
  if (allocator == nullptr) return false;
  tflite::MicroResourceVariables* variables =
      tflite::MicroResourceVariables::Create(allocator, TFLM_EDU_RESOURCE_VARIABLES);
  if (variables == nullptr) return false;
  g_interpreter = new (g_interpreter_storage) tflite::MicroInterpreter(
      model, op_resolver, allocator, variables, &g_profiler);
#else
  g_interpreter = new (g_interpreter_storage) tflite::MicroInterpreter(
      model, op_resolver, g_tensor_arena, arena_bytes, nullptr, &g_profiler, preserve_all);
#endif
  if (g_interpreter->AllocateTensors() != kTfLiteOk) return false;
  size_t inputs = g_interpreter->inputs_size(), outputs = g_interpreter->outputs_size();
  if (inputs > static_cast<size_t>(kMaxTensors) || outputs > static_cast<size_t>(kMaxTensors)) {
    LogToHost("tflm_edu: the model has more inputs or outputs than the protocol serves");
    return false;
  }
  size_t info_bytes = 2;
  for (size_t i = 0; i < inputs + outputs; ++i) {
    TfLiteTensor* tensor = i < inputs ? g_interpreter->input(i) : g_interpreter->output(i - inputs);
    TensorInfo* info = i < inputs ? &description_.inputs[i] : &description_.outputs[i - inputs];
    if (!DescribeTensor(tensor, info)) return false;
    info_bytes += 2 + 4 * info->rank;
  }
  if (info_bytes > 300) {     // INFO must fit one frame with the names after it
    LogToHost("tflm_edu: the inputs and outputs are too many to describe in INFO");
    return false;
  }
  description_.input_count = static_cast<uint8_t>(inputs);
  description_.output_count = static_cast<uint8_t>(outputs);
  description_.arena_used = static_cast<uint32_t>(g_interpreter->arena_used_bytes());
  description_.ready = true;
  return true;
}

void ServeForever(SerialPort& port) {
  static TflmRunner runner;
  // The server first, so that what TFLM prints while allocating reaches the host as LOG.
  static ProtocolServer server(port, runner);
  runner.Setup(&port);   // if allocation fails, the server answers NOT_READY
  server.Announce();
  for (;;) server.Poll();
}

uint8_t* TflmRunner::InputBuffer(int index) { return g_interpreter->input(index)->data.uint8; }

const uint8_t* TflmRunner::OutputBuffer(int index) {
  return g_interpreter->output(index)->data.uint8;
}

int TflmRunner::Invoke() {
  g_profiler.Start(g_clock);
  return g_interpreter->Invoke() == kTfLiteOk ? 0 : 1;
}

int TflmRunner::ProfileCount() { return g_profiler.count(); }

ProfileEvent TflmRunner::Profile(int index) { return g_profiler.event(index); }

int TflmRunner::Tensor(int index, const uint8_t** data, uint32_t* bytes) {
#if TFLM_EDU_LEGACY_API
  (void)index;
  (void)data;
  (void)bytes;
  return kErrNotAvailable;
#else
  if (!description_.preserve_all) return kErrNotAvailable;
  const tflite::Model* model = tflite::GetModel(g_model);
  if (index < 0 || static_cast<size_t>(index) >= model->subgraphs()->Get(0)->tensors()->size()) {
    return kErrOutOfRange;
  }
  TfLiteEvalTensor* tensor = g_interpreter->GetTensor(index, 0);
  if (tensor == nullptr || tensor->data.data == nullptr) return kErrNotAvailable;
  size_t count = 1;
  for (int i = 0; i < tensor->dims->size; ++i) count *= tensor->dims->data[i];
  size_t element = 0;
  if (tflite::TfLiteTypeSizeOf(tensor->type, &element) != kTfLiteOk) return kErrNotAvailable;
  *data = tensor->data.uint8;
  *bytes = static_cast<uint32_t>(count * element);
  return 0;
#endif
}

}  // namespace tflm_edu
