// tflm_edu's profiling firmware for QEMU's MPS2 boards: it runs every model of a corpus
// (corpus_models.h, made by tflm_edu.profile.measure) through TFLM, times each op with the
// board's instruction counter, prints the counts as text on UART0 and then says END.
//
// The host fits tflm_edu's Cortex-M cost model to these counts (tflm_edu/profile). Each
// model is invoked once to warm up and then timed: an op's count is the sum over the timed
// invokes, several for small models because the counter ticks every 40 instructions and
// the sum averages that step away. Inputs are filled with a fixed pseudo-random pattern of
// the input's type, the same for every model, so the host can feed its own run the same
// values (tflm_edu.profile.features.firmware_inputs) where the work depends on them.
// A model with resource variables (VAR_HANDLE) gets a variable store in its arena, sized by
// kCorpusVariables, as TFLM's interpreter needs one to run them; its first invoke (the
// warm-up) also runs CALL_ONCE's initialisation subgraph, which the timed invokes skip.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <new>

#include "corpus_models.h"
#include "corpus_op_resolver.h"
#include "serial_mps2.h"
#include "tensorflow/lite/micro/micro_allocator.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/micro/micro_resource_variable.h"

namespace {

alignas(16) uint8_t g_arena[kCorpusArenaBytes];
alignas(tflite::MicroInterpreter) uint8_t g_storage[sizeof(tflite::MicroInterpreter)];
tflm_edu::Mps2Serial g_serial;

// One entry per op of one invoke; TFLM opens an event per op, named after the op.
class OpCounter : public tflite::MicroProfilerInterface {
 public:
  // Events of one invoke (ops, and the ops of subgraphs they call); a model with more is
  // reported as failed rather than cut short.
  static constexpr int kMaxOps = 1024;
  void NewInvoke() { next_ = 0; }
  void Clear() {
    memset(total_, 0, sizeof(total_));
    used_ = 0;
    overflow_ = false;
  }
  uint32_t BeginEvent(const char* tag) override {
    if (next_ >= kMaxOps) {
      overflow_ = true;
      return kMaxOps;
    }
    tags_[next_] = tag ? tag : "?";
    start_[next_] = g_serial.Counter();
    if (next_ >= used_) used_ = next_ + 1;
    return static_cast<uint32_t>(next_++);
  }
  void EndEvent(uint32_t handle) override {
    if (handle >= kMaxOps) return;
    total_[handle] += g_serial.Counter() - start_[handle];
  }
  int used() const { return used_; }
  bool overflow() const { return overflow_; }
  const char* tag(int i) const { return tags_[i]; }
  uint32_t total(int i) const { return total_[i]; }

 private:
  const char* tags_[kMaxOps] = {};
  uint32_t start_[kMaxOps] = {};
  uint32_t total_[kMaxOps] = {};
  int next_ = 0;
  int used_ = 0;
  bool overflow_ = false;
};

OpCounter g_counter;

void Print(const char* text) {
  g_serial.Write(reinterpret_cast<const uint8_t*>(text), static_cast<int>(strlen(text)));
}

uint32_t g_random = 0x2545F491u;
uint32_t NextRandom() {   // xorshift32: the same pattern on every run and every board
  g_random ^= g_random << 13;
  g_random ^= g_random >> 17;
  g_random ^= g_random << 5;
  return g_random;
}

void FillInput(TfLiteTensor* tensor) {
  switch (tensor->type) {
    case kTfLiteFloat32: {
      float* data = tensor->data.f;
      for (size_t i = 0; i < tensor->bytes / sizeof(float); ++i)
        data[i] = static_cast<float>(static_cast<int>(NextRandom() % 2001u) - 1000) / 500.0f;
      break;
    }
    case kTfLiteBool:
      for (size_t i = 0; i < tensor->bytes; ++i) tensor->data.uint8[i] = NextRandom() & 1u;
      break;
    default:
      for (size_t i = 0; i < tensor->bytes; ++i)
        tensor->data.uint8[i] = static_cast<uint8_t>(NextRandom() >> 24);
  }
}

void RunModel(int index) {
  char line[96];
  const tflite::Model* model = tflite::GetModel(kCorpusModels[index]);
  tflite::MicroInterpreter* interpreter = nullptr;
  if (kCorpusVariables[index] > 0) {
    // The allocator first, the variable store in its tail, then the interpreter on both.
    tflite::MicroAllocator* allocator =
        tflite::MicroAllocator::Create(g_arena, kCorpusArenaBytes);
    tflite::MicroResourceVariables* variables =
        allocator == nullptr
            ? nullptr
            : tflite::MicroResourceVariables::Create(allocator, kCorpusVariables[index]);
    if (variables == nullptr) {
      snprintf(line, sizeof(line), "MODEL %d FAIL variables\n", index);
      Print(line);
      return;
    }
    interpreter = new (g_storage) tflite::MicroInterpreter(model, corpus_op_resolver, allocator,
                                                           variables, &g_counter);
  } else {
    interpreter = new (g_storage) tflite::MicroInterpreter(
        model, corpus_op_resolver, g_arena, kCorpusArenaBytes, nullptr, &g_counter);
  }
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    snprintf(line, sizeof(line), "MODEL %d FAIL allocate\n", index);
    Print(line);
    interpreter->~MicroInterpreter();
    return;
  }
  g_random = 0x2545F491u;
  for (size_t i = 0; i < interpreter->inputs_size(); ++i) FillInput(interpreter->input(i));
  // The first invoke warms up; small models are then timed kRepeats times, large ones
  // (whose 40-instruction steps do not matter) once.
  g_counter.Clear();
  g_counter.NewInvoke();
  uint32_t start = g_serial.Counter();
  bool ok = interpreter->Invoke() == kTfLiteOk;
  int repeats = g_serial.Counter() - start < kLargeInvoke ? kRepeats : 1;
  g_counter.Clear();
  for (int repeat = 0; repeat < repeats && ok; ++repeat) {
    g_counter.NewInvoke();
    ok = interpreter->Invoke() == kTfLiteOk;
  }
  if (!ok || g_counter.overflow()) {
    snprintf(line, sizeof(line), "MODEL %d FAIL %s\n", index, ok ? "events" : "invoke");
    Print(line);
  } else {
    snprintf(line, sizeof(line), "MODEL %d OK %d %d\n", index, g_counter.used(), repeats);
    Print(line);
    for (int op = 0; op < g_counter.used(); ++op) {
      snprintf(line, sizeof(line), "OP %d %d %s %lu\n", index, op, g_counter.tag(op),
               static_cast<unsigned long>(g_counter.total(op)));
      Print(line);
    }
  }
  interpreter->~MicroInterpreter();
}

}  // namespace

int main(void) {
  g_serial.Begin(115200);
  corpus_register_ops();
  for (int i = 0; i < kCorpusCount; ++i) RunModel(i);
  Print("END\n");
  while (true) __asm volatile("wfi" ::: "memory");
}
