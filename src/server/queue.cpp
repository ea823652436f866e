// Job event channel and admission queue (see queue.h).
#include "server/queue.h"

namespace r1::server {

void Job::push(JobEvent ev) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(ev));
  }
  cv_.notify_all();
}

bool Job::wait_events(std::vector<JobEvent>& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
  while (!events_.empty()) {
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return true;
}

AdmissionQueue::Admit AdmissionQueue::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Admit::ShuttingDown;
    // Cancelled jobs do not count against the limit: their clients are gone.
    size_t live = 0;
    for (const auto& j : waiting_) live += j->cancelled() ? 0 : 1;
    if (live >= max_waiting_) return Admit::QueueFull;
    waiting_.push_back(std::move(job));
  }
  cv_.notify_all();
  return Admit::Ok;
}

std::vector<std::shared_ptr<Job>> AdmissionQueue::take(int free_slots,
                                                       std::chrono::milliseconds wait) {
  std::vector<std::shared_ptr<Job>> out;
  std::unique_lock<std::mutex> lock(mu_);
  auto pop_ready = [&] {
    while (!waiting_.empty()) {
      const auto& head = waiting_.front();
      if (head->cancelled()) {
        waiting_.pop_front();
        continue;
      }
      if (head->n > free_slots) break;
      free_slots -= head->n;
      out.push_back(head);
      waiting_.pop_front();
    }
  };
  pop_ready();
  if (out.empty() && wait.count() > 0 && !closed_) {
    cv_.wait_for(lock, wait, [&] {
      if (closed_) return true;
      pop_ready();
      return !out.empty();
    });
  }
  return out;
}

void AdmissionQueue::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool AdmissionQueue::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

std::vector<std::shared_ptr<Job>> AdmissionQueue::drain() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Job>> out(waiting_.begin(), waiting_.end());
  waiting_.clear();
  return out;
}

size_t AdmissionQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_.size();
}

void AdmissionQueue::notify() { cv_.notify_all(); }

}  // namespace r1::server
