// load_tensors: plan, then stream every storage once, front to back.
//
// Plan. Requests are checked first (shape, dtype, device, the source view against its
// record), so that a bad request fails before any byte is copied. Requests reading the same
// view of the same storage into the same dtype form a group: the view is read once and
// delivered to each destination (tied weights). Groups are gathered per storage and storages
// are visited in file order, so the mapping is read sequentially.
//
// Stream. A view is cut into chunks of logical elements. For a CPU destination a chunk is
// copied (and converted) straight from the mapping into the destination: no staging and no
// temporary. For a GPU destination it is gathered into a pinned buffer and uploaded
// asynchronously (device_stager.h). Compressed zip records have no bytes in the mapping: they
// are inflated front to back into a window of staging_bytes, and the views are served from
// each window as it passes; a non-contiguous view of such a record must fit in one window.
//
// Sinks (ElementSink). A request with a sink forms a group of its own; each chunk of its view is
// converted into a small f32 buffer of kSinkChunkElems and handed over, so that what the sink
// builds is the only full-size thing in memory.
//
// Verify (LoadOptions::verify). Each record read is checked whole against its zip CRC-32,
// computed over the bytes as they are copied: chunks of the mapping go to CRC worker threads
// right after the copy (crc32.h), windows of an inflated record are checksummed as they pass.
#include "loader/stream_loader.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "loader/checkpoint_impl.h"
#include "loader/crc32.h"
#include "loader/device_stager.h"
#include "loader/host_copy.h"
#include "runtime/alloc_trace.h"
#include "runtime/error.h"
#include "runtime/interrupt.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

// The f32 elements a sink receives at a time: a bounded buffer, however large the tensor.
constexpr int64_t kSinkChunkElems = int64_t(1) << 18;

struct Group {
  TensorInfo source;
  std::vector<const LoadRequest*> requests;
  ElementSink* sink = nullptr;  // a group of one request with a sink
  DType dst_dtype = DType::f32;
  bool contiguous = true;
  uint64_t begin = 0, end = 0;  // the record's bytes the view reaches
};

struct Job {
  const StorageRecord* record = nullptr;
  std::vector<Group> groups;
  uint64_t begin = UINT64_MAX, end = 0;
};

bool same_view(const TensorInfo& a, const TensorInfo& b) {
  return a.storage_key == b.storage_key && a.dtype == b.dtype && a.shape == b.shape && a.strides == b.strides &&
         a.storage_offset == b.storage_offset;
}

bool source_contiguous(const TensorInfo& t) {
  int64_t expected = 1;
  for (int d = t.shape.size() - 1; d >= 0; --d) {
    if (t.shape[d] == 0) return true;
    if (t.shape[d] != 1 && t.strides[d] != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

void check_request(const Checkpoint::Impl& impl, const LoadRequest& r) {
  const TensorInfo& s = r.source;
  const Tensor& d = r.destination;
  const ErrorContext where{impl.path, "tensor " + in_quotes(s.name)};
  auto it = impl.storages.find(s.storage_key);
  PTHRUN_CHECK_AT(where, it != impl.storages.end(), "it names storage ", in_quotes(s.storage_key),
                  ", which this checkpoint does not have");
  if (r.sink) {
    PTHRUN_CHECK_AT(where, !d.defined(), "a request has both a sink and a destination");
    PTHRUN_CHECK_AT(where, is_floating(s.dtype), "cannot convert ", dtype_name(s.dtype), " to float32 for a sink");
    check_view(s, it->second);
    return;
  }
  PTHRUN_CHECK_AT(where, d.defined(), "the destination is undefined");
  PTHRUN_CHECK_AT(where, d.shape() == s.shape, "the checkpoint has shape ", s.shape.to_string(), ", the destination ",
                  d.shape().to_string());
  PTHRUN_CHECK_AT(where, d.dtype() == s.dtype || (is_floating(d.dtype()) && is_floating(s.dtype)), "cannot load ",
                  dtype_name(s.dtype), " into a ", dtype_name(d.dtype()), " destination");
  PTHRUN_CHECK_AT(where, d.device().is_cpu() || d.device().is_cuda(), "unsupported destination device ",
                  d.device().to_string());
  check_view(s, it->second);
}

// The bytes of its record that a view reaches: [begin, end).
std::pair<uint64_t, uint64_t> byte_span(const TensorInfo& t) {
  const auto size = static_cast<uint64_t>(itemsize(t.dtype));
  if (t.numel() == 0) return {0, 0};
  int64_t last = t.storage_offset;
  for (int d = 0; d < t.shape.size(); ++d) last += (t.shape[d] - 1) * t.strides[d];
  return {static_cast<uint64_t>(t.storage_offset) * size, (static_cast<uint64_t>(last) + 1) * size};
}

// Counts what has been loaded and tells LoadOptions::on_progress, when there is one.
class ProgressReport {
 public:
  ProgressReport(const LoadOptions& options, uint64_t tensors, uint64_t bytes) : callback_(options.on_progress) {
    progress_.total_tensors = tensors;
    progress_.total_bytes = bytes;
  }
  void advance(uint64_t tensors, uint64_t bytes) {
    progress_.tensors += tensors;
    progress_.bytes += bytes;
    if (callback_) callback_(progress_);
  }
  void finish() {
    progress_.done = true;
    if (callback_) callback_(progress_);
  }

 private:
  const std::function<void(const LoadProgress&)>& callback_;
  LoadProgress progress_;
};

class Streamer {
 public:
  Streamer(const Checkpoint::Impl& impl, const LoadOptions& options, bool any_cuda, uint64_t tensors, uint64_t bytes)
      : impl_(impl), options_(options), progress_(options, tensors, bytes) {
    if (any_cuda) stager_ = std::make_unique<DeviceStager>(options.staging_bytes);
    if (options.verify) crc_ = std::make_unique<ParallelCrc>();
    chunk_bytes_ = stager_ ? stager_->chunk_bytes() : std::max<std::size_t>(options.staging_bytes / 4 / 8 * 8, 8);
  }

  void run(const Job& job) {
    const StorageRecord& record = *job.record;
    current_file_ = record.file.get();
    for (const Group& g : job.groups) {
      if (g.source.numel() != 0) continue;
      if (g.sink) g.sink->finish();
      progress_.advance(g.requests.size(), 0);
    }
    const bool verify = options_.verify && record.crc;
    uint32_t crc = 0;
    if (!record.compressed()) crc = run_mapped(job, verify);
    else crc = run_compressed(job, verify);
    if (!options_.verify) return;
    RecordCheck check{record.file->path(), record.name, record.nbytes, Checksum::none_in_format};
    if (verify) check.result = compare_crc(record.where, *record.crc, crc);
    records_.push_back(std::move(check));
  }

  void finish() {
    if (stager_) stager_->finish();
    progress_.finish();
  }

  uint64_t bytes_read() const { return bytes_read_; }
  std::vector<RecordCheck> take_records() { return std::move(records_); }

 private:
  // Copies every view of a record straight from the mapping. When verifying, each chunk is
  // handed to the CRC workers as soon as it has been copied (the bytes are still in the cache),
  // and the record's CRC, bytes the views skip included, is returned.
  uint32_t run_mapped(const Job& job, bool verify) {
    const StorageRecord& record = *job.record;
    const uint8_t* base = record.file->data() + record.offset;
    uint64_t crc_done = 0;  // the record's bytes handed to the CRC workers
    auto crc_to = [&](uint64_t end) {
      if (!verify || end <= crc_done) return;
      crc_->add(base + crc_done, static_cast<std::size_t>(end - crc_done));
      crc_done = end;
    };
    if (job.end > job.begin) {
      record.file->advise_willneed(record.offset + job.begin, job.end - job.begin);
      // A record read by one contiguous view is done with chunk by chunk, front to back. When
      // verifying, pages stay until the CRC workers are done with them.
      const bool one_pass = job.groups.size() == 1 && job.groups[0].contiguous;
      for (const Group& g : job.groups) {
        if (g.source.numel() == 0) continue;
        const uint8_t* at_zero = base + g.begin;  // element 0 of the view
        const auto size = static_cast<int64_t>(itemsize(g.source.dtype));
        stream_range(
            g, 0, g.source.numel(),
            [&](int64_t first) { return at_zero + element_offset(g.source.shape, g.source.strides, first) * size; },
            [&](int64_t first, int64_t count) {
              const uint64_t chunk = g.begin + static_cast<uint64_t>(first * size);
              if (one_pass && verify) crc_to(chunk + static_cast<uint64_t>(count * size));
              else if (one_pass) record.file->release(record.offset + chunk, static_cast<uint64_t>(count * size));
            });
      }
      bytes_read_ += job.end - job.begin;
    }
    crc_to(record.nbytes);
    const uint32_t crc = verify ? crc_->finish() : 0;
    // Every byte of this record has been copied out (a storage is one job): its pages need
    // not stay in our resident set, so host memory stays flat however large the file.
    if (verify) record.file->release(record.offset, record.nbytes);
    else if (job.end > job.begin) record.file->release(record.offset + job.begin, job.end - job.begin);
    return crc;
  }

  // Inflates the record front to back, one window at a time, serving each view's elements
  // as they pass. Non-contiguous views were checked to fit one window with the whole record.
  // When verifying, the whole record is inflated and each window checksummed as it passes.
  uint32_t run_compressed(const Job& job, bool verify) {
    const StorageRecord& record = *job.record;
    const uint64_t window = std::max<uint64_t>(options_.staging_bytes / 8 * 8, 8);
    const uint64_t end = verify ? record.nbytes : job.end;
    if (end == 0) return 0;
    std::vector<uint8_t> buffer(static_cast<std::size_t>(std::min(window, end)));
    ZipArchive::Reader reader = record.archive->reader(*record.entry);
    uint32_t crc = 0;
    for (uint64_t pos = 0; pos < end;) {
      const uint64_t n = std::min(window, end - pos);
      reader.read(buffer.data(), n);
      if (verify) crc = crc32_update(crc, buffer.data(), static_cast<std::size_t>(n));
      for (const Group& g : job.groups) {
        if (g.source.numel() == 0) continue;
        const auto size = static_cast<uint64_t>(itemsize(g.source.dtype));
        if (!g.contiguous) {
          PTHRUN_ASSERT(pos == 0 && n >= job.end);
          const uint8_t* at_zero = buffer.data() + g.begin;
          stream_range(g, 0, g.source.numel(), [&](int64_t first) {
            return at_zero + element_offset(g.source.shape, g.source.strides, first) * static_cast<int64_t>(size);
          });
          continue;
        }
        const uint64_t lo = std::max(g.begin, pos), hi = std::min(g.end, pos + n);
        if (lo >= hi) continue;
        const uint8_t* at_pos = buffer.data();
        stream_range(g, static_cast<int64_t>((lo - g.begin) / size), static_cast<int64_t>((hi - g.begin) / size),
                     [&](int64_t first) { return at_pos + (g.begin + static_cast<uint64_t>(first) * size - pos); });
      }
      pos += n;
    }
    bytes_read_ += end;
    return crc;
  }

  // Copies elements [begin, end) of the group's view to its destinations, chunk by chunk;
  // after(first, count) runs when a chunk's source bytes are no longer needed.
  template <typename SourceAt, typename After = void (*)(int64_t, int64_t)>
  void stream_range(const Group& g, int64_t begin, int64_t end, SourceAt source_at,
                    After after = [](int64_t, int64_t) {}) {
    const ViewLayout src{g.source.shape, g.source.strides, g.source.dtype};
    const std::size_t widest = std::max(itemsize(g.source.dtype), itemsize(g.dst_dtype));
    auto chunk = static_cast<int64_t>(std::max<std::size_t>(chunk_bytes_ / (stager_ ? itemsize(g.dst_dtype) : widest), 1));
    if (g.sink) chunk = std::min(chunk, kSinkChunkElems);
    for (int64_t first = begin; first < end; first += chunk) {
      const int64_t count = std::min(chunk, end - first);
      deliver(g, source_at(first), src, first, count);
      current_file_->check_intact();  // a file cut short under us reads as zeros: say so
      check_interrupt();
      after(first, count);
      progress_.advance(0, static_cast<uint64_t>(count) * itemsize(g.dst_dtype) * g.requests.size());
    }
    if (end != g.source.numel()) return;
    if (g.sink) g.sink->finish();
    progress_.advance(g.requests.size(), 0);
  }

  void deliver(const Group& g, const void* src_at_first, const ViewLayout& src, int64_t first, int64_t count) {
    if (g.sink) {
      AllocScope scope(g.source.name);
      sink_buffer_.resize(static_cast<std::size_t>(std::min(g.source.numel(), kSinkChunkElems)));
      copy_elements(src_at_first, src, sink_buffer_.data(), {src.shape, contiguous_strides(src.shape), DType::f32},
                    first, count);
      g.sink->append(sink_buffer_.data(), count);
      return;
    }
    const Tensor* first_host = nullptr;
    bool staged = false;
    for (const LoadRequest* r : g.requests) {
      const Tensor& dst = r->destination;
      AllocScope scope(r->source.name);
      const ViewLayout to{dst.shape(), dst.strides(), dst.dtype()};
      if (dst.device().is_cpu()) {
        void* dst_at_first = static_cast<char*>(dst.data_ptr()) +
                             element_offset(dst.shape(), dst.strides(), first) * static_cast<int64_t>(dst.itemsize());
        if (!first_host) {
          copy_elements(src_at_first, src, dst_at_first, to, first, count);
          first_host = &dst;
        } else {  // a tied destination: copy from the first one instead of reading again
          const void* from = static_cast<const char*>(first_host->data_ptr()) +
                             element_offset(first_host->shape(), first_host->strides(), first) *
                                 static_cast<int64_t>(first_host->itemsize());
          copy_elements(from, {first_host->shape(), first_host->strides(), first_host->dtype()}, dst_at_first, to,
                        first, count);
        }
        continue;
      }
      if (!staged) {
        stager_->stage(src_at_first, src, g.dst_dtype, first, count);
        staged = true;
      }
      stager_->upload(dst, first, count);
    }
    if (staged) stager_->done();
  }

  const Checkpoint::Impl& impl_;
  const LoadOptions& options_;
  ProgressReport progress_;
  std::unique_ptr<DeviceStager> stager_;
  std::unique_ptr<ParallelCrc> crc_;  // with options.verify
  std::vector<RecordCheck> records_;
  std::size_t chunk_bytes_ = 0;
  std::vector<float> sink_buffer_;  // one chunk of a sink's elements
  uint64_t bytes_read_ = 0;
  const MappedFile* current_file_ = nullptr;  // the file the job in progress reads
};

}  // namespace

LoadStats load_tensors(const Checkpoint& checkpoint, const std::vector<LoadRequest>& requests,
                       const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Checkpoint::Impl& impl = checkpoint.impl();
  LoadStats stats;
  bool any_cuda = false;
  for (const LoadRequest& r : requests) {
    check_request(impl, r);
    if (r.sink) {
      stats.bytes_written += static_cast<uint64_t>(r.source.numel()) * sizeof(float);
      continue;
    }
    any_cuda = any_cuda || r.destination.device().is_cuda();
    stats.bytes_written += r.destination.nbytes();
  }
  stats.tensors = requests.size();

  // Plan: groups per storage, storages in file order.
  std::map<std::string, Job> by_key;
  for (const LoadRequest& r : requests) {
    Job& job = by_key[r.source.storage_key];
    job.record = &impl.record(r.source.storage_key);
    const DType dst_dtype = r.sink ? DType::f32 : r.destination.dtype();
    Group* group = nullptr;
    for (Group& g : job.groups)
      if (!r.sink && !g.sink && same_view(g.source, r.source) && g.dst_dtype == dst_dtype) group = &g;
    if (!group) {
      Group g;
      g.source = r.source;
      g.sink = r.sink.get();
      g.dst_dtype = dst_dtype;
      g.contiguous = source_contiguous(r.source);
      std::tie(g.begin, g.end) = byte_span(r.source);
      if (g.end > g.begin) {
        job.begin = std::min(job.begin, g.begin);
        job.end = std::max(job.end, g.end);
      }
      PTHRUN_CHECK_AT(job.record->where,
                      !job.record->compressed() || g.contiguous ||
                          job.record->nbytes <= std::max<uint64_t>(options.staging_bytes / 8 * 8, 8),
                      "tensor ", in_quotes(r.source.name), " is a strided view of a compressed record of ",
                      job.record->nbytes, " bytes, more than the ", options.staging_bytes,
                      " bytes of staging; re-save the checkpoint with torch.save (records stored, not deflated)");
      job.groups.push_back(std::move(g));
      group = &job.groups.back();
    }
    group->requests.push_back(&r);
  }
  std::vector<const Job*> jobs;
  for (const auto& [key, job] : by_key) jobs.push_back(&job);
  std::sort(jobs.begin(), jobs.end(), [](const Job* a, const Job* b) {
    if (a->record->file != b->record->file) return a->record->file->path() < b->record->file->path();
    return a->record->offset + std::min(a->begin, a->end) < b->record->offset + std::min(b->begin, b->end);
  });

  std::set<const MappedFile*> files;
  for (const Job* job : jobs)
    if (files.insert(job->record->file.get()).second) job->record->file->advise_sequential();

  AllocScope scope("load");
  Streamer streamer(impl, options, any_cuda, stats.tensors, stats.bytes_written);
  for (const Job* job : jobs) streamer.run(*job);
  streamer.finish();
  stats.bytes_read = streamer.bytes_read();
  stats.records = streamer.take_records();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace pthrun
