// One job per stream: attempt, decode, deliver; a retryable failure before any text is retried after a backoff.
#include "provider/upstream_provider.hpp"

#include "core/log.hpp"

#include <boost/asio/ssl/error.hpp>

#include <algorithm>
#include <random>

namespace sg::provider {

proto::error_info transport_error(std::string_view provider, const error_code& ec, bool got_response) {
  std::string who(provider);
  if (httpc::is_timeout(ec)) return upstream_failure(proto::error_code::upstream_timeout, who + ": " + ec.message());
  if (ec.category() == net::error::get_ssl_category() || ec == net::ssl::error::unexpected_result) {
    // A certificate that fails verification will fail again: not retryable.
    return upstream_failure(proto::error_code::upstream_error, who + ": TLS failure: " + ec.message());
  }
  if (got_response)
    return upstream_failure(proto::error_code::upstream_unavailable, who + " connection lost mid-answer: " + ec.message());
  return upstream_failure(proto::error_code::upstream_unavailable, who + " is unreachable: " + ec.message());
}

std::int64_t retry_delay_ms(int attempt, std::int64_t base_ms, std::int64_t max_ms,
                            std::optional<std::int64_t> retry_after, double unit) {
  if (retry_after) return std::clamp<std::int64_t>(*retry_after, 0, max_ms);
  double exp = static_cast<double>(base_ms) * static_cast<double>(std::int64_t{1} << std::min(attempt - 1, 16));
  exp = std::min(exp, static_cast<double>(max_ms));
  return static_cast<std::int64_t>(exp * (0.5 + 0.5 * unit));
}

namespace {

class job : public std::enable_shared_from_this<job> {
 public:
  job(std::shared_ptr<const provider_settings> sp, std::shared_ptr<const protocol> p, std::shared_ptr<httpc::client> c,
      std::shared_ptr<const request> req, std::string model, std::shared_ptr<sink> out, net::any_io_executor ex)
      : sp_(std::move(sp)),
        s_(*sp_),
        protocol_(std::move(p)),
        client_(std::move(c)),
        req_(std::move(req)),
        model_(std::move(model)),
        out_(std::move(out)),
        ex_(std::move(ex)),
        timer_(ex_) {}

  void run(const std::shared_ptr<cancellation>& cancel) {
    std::weak_ptr<job> weak = shared_from_this();
    cancel->on_cancel([weak, ex = ex_] {
      net::post(ex, [weak] {
        if (auto self = weak.lock()) self->on_cancel();
      });
    });
    if (cancel->cancelled()) return;
    attempt();
  }

 private:
  void on_cancel() {
    if (finished_) return;
    finished_ = true;  // the stream reports the cancel itself; the upstream socket closes now
    timer_.cancel();
    drop_exchange();
  }

  void drop_exchange() {
    if (auto x = std::move(x_)) x->abort();
  }

  void attempt() {
    if (finished_) return;
    ++attempts_;
    status_ = 0;
    error_body_.clear();
    got_response_ = false;
    decoder_ = protocol_->decoder(model_);
    httpc::request_spec spec;
    try {
      spec = protocol_->build(*req_, model_);
    } catch (const std::exception& e) {
      return fail(upstream_failure(proto::error_code::internal, "cannot build the upstream request: " + std::string(e.what())));
    }
    auto self = shared_from_this();
    httpc::handlers h;
    h.on_sent = [self] {
      if (self->finished_ || self->sent_) return;
      self->sent_ = true;
      self->out_->on_request_sent();
    };
    h.on_head = [self](const httpc::response_head& head) { self->on_head(head); };
    h.on_body = [self](std::string_view b) { self->on_body(b); };
    h.on_end = [self](error_code ec) { self->on_end(ec); };
    x_ = client_->start(std::move(spec), std::move(h), ex_);
  }

  void on_head(const httpc::response_head& head) {
    if (finished_) return;
    got_response_ = true;
    status_ = head.result_int();
    if (status_ / 100 != 2) {
      head_ = head;
      return;
    }
    if (auto refused = decoder_->on_head(head)) fail(std::move(*refused));
  }

  void on_body(std::string_view bytes) {
    if (finished_) return;
    if (status_ / 100 != 2) {
      // Error bodies are small JSON; keep enough of one to quote it.
      if (error_body_.size() < 64 * 1024) error_body_.append(bytes.substr(0, 64 * 1024 - error_body_.size()));
      return;
    }
    read_.clear();  // one per read, its storage kept from the last
    decoder_->feed(bytes, read_);
    deliver(read_);
  }

  void on_end(error_code ec) {
    x_.reset();
    if (finished_) return;
    if (ec) return fail(transport_error(s_.name, ec, got_response_));
    if (status_ / 100 != 2) return fail(protocol_->http_error(status_, head_, error_body_));
    decoded d;
    decoder_->finish(d);
    deliver(d);
  }

  void deliver(decoded& d) {
    auto next_progress = d.progress.begin();
    auto progress_until = [&](std::size_t at) {
      for (; next_progress != d.progress.end() && next_progress->at <= at && !finished_; ++next_progress)
        out_->on_progress(next_progress->stage, next_progress->step, next_progress->percent);
    };
    for (std::size_t i = 0; i < d.deltas.size(); ++i) {
      progress_until(i);
      if (finished_) return;
      delivered_ = true;
      out_->on_delta(std::move(d.deltas[i]), 0);
    }
    progress_until(d.deltas.size());
    if (finished_) return;
    if (d.error) {
      drop_exchange();
      return fail(std::move(*d.error), d.client_message);
    }
    if (d.done) {
      // Reported at once; the exchange reads the rest of the body so the connection can be reused.
      finished_ = true;
      out_->on_done(d.usage);
    }
  }

  /// `for_clients`: the message was written for clients (a backend's own error event) and is kept.
  void fail(proto::error_info e, bool for_clients = false) {
    if (finished_) return;
    drop_exchange();
    if (e.retryable && !delivered_ && attempts_ <= s_.max_retries) {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      auto delay = retry_delay_ms(attempts_, s_.retry_base_ms, s_.max_retry_wait_ms, e.retry_after_ms, unit);
      core::log_info("upstream retry", {{"provider", s_.name},
                                        {"streamId", req_->stream_id},
                                        {"attempt", attempts_},
                                        {"delayMs", delay},
                                        {"code", proto::to_string(e.code)},
                                        {"error", e.message}});
      timer_.expires_after(std::chrono::milliseconds(delay));
      timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec) self->attempt();
      });
      return;
    }
    finished_ = true;
    // Upstream error text can echo key fragments, organisation ids or the prompt: it stays in the log,
    // and the client gets the stable code with a fixed message.
    core::log_warn("upstream failed", {{"provider", s_.name},
                                       {"streamId", req_->stream_id},
                                       {"code", proto::to_string(e.code)},
                                       {"error", e.message}});
    if (!for_clients) e.message = client_message(e.code);
    out_->on_error(std::move(e));
  }

  std::shared_ptr<const provider_settings> sp_;  // keeps s_ alive as long as the job
  const provider_settings& s_;
  std::shared_ptr<const protocol> protocol_;
  std::shared_ptr<httpc::client> client_;
  std::shared_ptr<const request> req_;
  std::string model_;
  std::shared_ptr<sink> out_;
  net::any_io_executor ex_;
  net::steady_timer timer_;
  std::shared_ptr<httpc::exchange> x_;
  std::unique_ptr<stream_decoder> decoder_;
  decoded read_;  // what the last read of the body held
  httpc::response_head head_;
  std::string error_body_;
  unsigned status_ = 0;
  int attempts_ = 0;
  bool sent_ = false;
  bool got_response_ = false;
  bool delivered_ = false;
  bool finished_ = false;
};

}  // namespace

upstream_provider::upstream_provider(provider_settings s, std::unique_ptr<protocol> p, std::shared_ptr<httpc::client> c)
    : s_(std::make_shared<const provider_settings>(std::move(s))), protocol_(std::move(p)), client_(std::move(c)) {}

void upstream_provider::start(std::shared_ptr<const request> req, std::shared_ptr<sink> out, net::any_io_executor ex,
                              std::shared_ptr<cancellation> cancel) {
  const auto& s = *s_;
  std::string model = req->model.empty() ? s.default_model : req->model;
  std::optional<proto::error_info> refused;
  if (model.empty() && s.kind != "http") {  // a team's own backend may need no model at all
    refused = proto::error_info{proto::error_code::bad_request,
                                "provider " + s.name + " has no default_model: name a model", false, {}, "model"};
  } else if (!s.allowed_models.empty() &&
             std::find(s.allowed_models.begin(), s.allowed_models.end(), model) == s.allowed_models.end()) {
    refused = proto::error_info{proto::error_code::bad_request,
                                "model '" + model + "' is not allowed for provider " + s.name, false, {}, "model"};
  }
  if (refused) {
    net::post(ex, [out, e = *refused] { out->on_error(e); });
    return;
  }
  auto j = std::make_shared<job>(s_, protocol_, client_, std::move(req), std::move(model), std::move(out), ex);
  net::dispatch(ex, [j, cancel] { j->run(cancel); });  // inline on the stream's executor: no queue before the request
}

}  // namespace sg::provider
