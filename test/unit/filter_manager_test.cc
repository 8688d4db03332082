#include "http/filter_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace remora::http {
namespace {

// Records what reaches the end of each chain.
class Owner : public FilterManagerCallbacks {
 public:
  void encode1xxHeaders(ResponseHeaderMap&) override {}
  void encodeHeaders(ResponseHeaderMap& headers, bool end_stream) override {
    events.push_back("headers " + std::to_string(headers.status()) + (end_stream ? " end" : ""));
  }
  void encodeData(buffer::Buffer& data, bool end_stream) override {
    events.push_back("data " + data.toString() + (end_stream ? " end" : ""));
    data.drain(data.length());
  }
  void encodeTrailers(TrailerMap&) override { events.push_back("trailers"); }
  const router::Route* route() override { return nullptr; }
  void clearRouteCache() override {}
  const net::Connection* connection() override { return nullptr; }
  uint64_t streamId() const override { return 1; }
  void resetStream() override { events.push_back("reset"); }
  void onDecoderFilterAboveWriteBufferHighWatermark() override { events.push_back("pause"); }
  void onDecoderFilterBelowWriteBufferLowWatermark() override { events.push_back("resume"); }
  ResponseHeaderMapPtr makeLocalReply(uint32_t code, std::string& body,
                                      std::optional<uint32_t>) override {
    auto h = std::make_unique<ResponseHeaderMap>();
    h->set(":status", std::to_string(code));
    return h;
  }
  std::vector<std::string> events;
};

// A decoder filter with scripted answers that logs what it sees.
class Scripted : public StreamFilter {
 public:
  Scripted(std::string name, std::vector<std::string>& log) : name_(std::move(name)), log_(log) {}
  FilterHeadersStatus decodeHeaders(RequestHeaderMap&, bool end_stream) override {
    log_.push_back(name_ + ".headers" + (end_stream ? " end" : ""));
    return headers_status;
  }
  FilterDataStatus decodeData(buffer::Buffer& data, bool end_stream) override {
    log_.push_back(name_ + ".data " + data.toString() + (end_stream ? " end" : ""));
    return data_status;
  }
  FilterTrailersStatus decodeTrailers(TrailerMap&) override {
    log_.push_back(name_ + ".trailers");
    return trailers_status;
  }
  FilterHeadersStatus encodeHeaders(ResponseHeaderMap&, bool) override {
    log_.push_back(name_ + ".encodeHeaders");
    return encode_headers_status;
  }
  FilterDataStatus encodeData(buffer::Buffer& data, bool end_stream) override {
    log_.push_back(name_ + ".encodeData " + data.toString() + (end_stream ? " end" : ""));
    if (encode_data_status == FilterDataStatus::StopIterationNoBuffer) held.move(data);
    return encode_data_status;
  }
  FilterTrailersStatus encodeTrailers(TrailerMap&) override {
    log_.push_back(name_ + ".encodeTrailers");
    return encode_trailers_status;
  }
  void setDecoderFilterCallbacks(StreamDecoderFilterCallbacks& cb) override { decoder = &cb; }
  void setEncoderFilterCallbacks(StreamEncoderFilterCallbacks& cb) override { encoder = &cb; }
  void onDestroy() override { log_.push_back(name_ + ".destroy"); }

  FilterHeadersStatus headers_status = FilterHeadersStatus::Continue;
  FilterDataStatus data_status = FilterDataStatus::Continue;
  FilterTrailersStatus trailers_status = FilterTrailersStatus::Continue;
  FilterHeadersStatus encode_headers_status = FilterHeadersStatus::Continue;
  FilterDataStatus encode_data_status = FilterDataStatus::Continue;
  FilterTrailersStatus encode_trailers_status = FilterTrailersStatus::Continue;
  buffer::Buffer held;  // response data taken with StopIterationNoBuffer
  StreamDecoderFilterCallbacks* decoder = nullptr;
  StreamEncoderFilterCallbacks* encoder = nullptr;

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

class FilterManagerTest : public testing::Test {
 protected:
  FilterManagerTest() : dispatcher_(event::createDispatcher("test")) {}
  std::unique_ptr<FilterManager> make(uint32_t limit = 1024) {
    return std::make_unique<FilterManager>(owner_, *dispatcher_, info_, limit);
  }
  RequestHeaderMapPtr request() {
    auto h = std::make_unique<RequestHeaderMap>();
    h->set(":method", "POST");
    h->set(":path", "/");
    return h;
  }
  event::DispatcherPtr dispatcher_;
  stream_info::StreamInfo info_;
  Owner owner_;
  std::vector<std::string> log_;
};

TEST_F(FilterManagerTest, StopAndBufferThenContinueDeliversInOrder) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  a->headers_status = FilterHeadersStatus::StopAllIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d1, d2;
  d1.add("x");
  d2.add("y");
  fm->decodeData(d1, false);
  fm->decodeData(d2, true);
  EXPECT_EQ(log_, (std::vector<std::string>{"a.headers"}));
  ASSERT_NE(a->decoder->decodingBuffer(), nullptr);
  EXPECT_EQ(a->decoder->decodingBuffer()->toString(), "xy");
  // As Envoy: the held headers go on to b, but the data a has not seen yet comes to a first.
  a->decoder->continueDecoding();
  EXPECT_EQ(log_,
            (std::vector<std::string>{"a.headers", "b.headers", "a.data xy end", "b.data xy end"}));
}

TEST_F(FilterManagerTest, PlainStopIterationStillSeesDataAndContinueFromDataResumesHeaders) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  a->headers_status = FilterHeadersStatus::StopIteration;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d;
  d.add("z");
  fm->decodeData(d, true);
  EXPECT_EQ(log_,
            (std::vector<std::string>{"a.headers", "a.data z end", "b.headers", "b.data z end"}));
}

// A filter that keeps the headers to itself (as the router does) still gets the body and the
// trailers: StopIteration stops the headers going further, not the request reaching it.
TEST_F(FilterManagerTest, TrailersReachAFilterThatHeldTheHeaders) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto router = std::make_shared<Scripted>("router", log_);
  router->headers_status = FilterHeadersStatus::StopIteration;
  router->data_status = FilterDataStatus::StopIterationNoBuffer;
  router->trailers_status = FilterTrailersStatus::StopIteration;
  fm->addStreamFilter(a);
  fm->addStreamFilter(router);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d;
  d.add("body");
  fm->decodeData(d, false);
  fm->decodeTrailers(std::make_unique<TrailerMap>());
  EXPECT_EQ(log_, (std::vector<std::string>{"a.headers", "router.headers", "a.data body",
                                            "router.data body", "a.trailers", "router.trailers"}));
}

// Continue on the trailers from a filter that held the headers resumes the chain behind it.
TEST_F(FilterManagerTest, ContinueOnTrailersResumesHeldHeaders) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  a->headers_status = FilterHeadersStatus::StopIteration;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), false);
  fm->decodeTrailers(std::make_unique<TrailerMap>());
  EXPECT_EQ(log_, (std::vector<std::string>{"a.headers", "a.trailers", "b.headers", "b.trailers"}));
}

TEST_F(FilterManagerTest, BufferOverflowAnswers413ThroughEncoders) {
  auto fm = make(4);
  auto a = std::make_shared<Scripted>("a", log_);
  a->data_status = FilterDataStatus::StopIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d;
  d.add("12345");
  fm->decodeData(d, false);
  EXPECT_EQ(owner_.events.front(), "headers 413");
  EXPECT_EQ(info_.response_code_details, "request_payload_too_large");
}

TEST_F(FilterManagerTest, BufferingFilterHearsEveryChunkAndContinuesWithTheWholeBody) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  a->headers_status = FilterHeadersStatus::StopIteration;
  a->data_status = FilterDataStatus::StopIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d1, d2, d3;
  d1.add("x");
  d2.add("y");
  d3.add("z");
  fm->decodeData(d1, false);
  fm->decodeData(d2, false);
  a->data_status = FilterDataStatus::Continue;
  fm->decodeData(d3, true);
  EXPECT_EQ(log_, (std::vector<std::string>{"a.headers", "a.data x", "a.data y", "a.data z end",
                                            "b.headers", "b.data xyz end"}));
}

TEST_F(FilterManagerTest, BufferingFilterContinuesOnTrailers) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  a->headers_status = FilterHeadersStatus::StopIteration;
  a->data_status = FilterDataStatus::StopIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d;
  d.add("x");
  fm->decodeData(d, false);
  fm->decodeTrailers(std::make_unique<TrailerMap>());
  EXPECT_EQ(log_, (std::vector<std::string>{"a.headers", "a.data x", "a.trailers", "b.headers",
                                            "b.data x", "b.trailers"}));
}

TEST_F(FilterManagerTest, TrailersWaitBehindStopAllAndReachEachFilterOnce) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  auto c = std::make_shared<Scripted>("c", log_);
  b->headers_status = FilterHeadersStatus::StopAllIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->addStreamFilter(c);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d;
  d.add("x");
  fm->decodeData(d, false);
  fm->decodeTrailers(std::make_unique<TrailerMap>());
  EXPECT_EQ(log_, (std::vector<std::string>{"a.headers", "b.headers", "a.data x", "a.trailers"}));
  b->decoder->continueDecoding();
  EXPECT_EQ(log_, (std::vector<std::string>{"a.headers", "b.headers", "a.data x", "a.trailers",
                                            "c.headers", "b.data x", "c.data x", "b.trailers",
                                            "c.trailers"}));
}

TEST_F(FilterManagerTest, FilterRaisesTheBufferLimit) {
  auto fm = make(4);
  auto a = std::make_shared<Scripted>("a", log_);
  a->data_status = FilterDataStatus::StopIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->decodeHeaders(request(), false);
  a->decoder->setDecoderBufferLimit(8);
  buffer::Buffer d;
  d.add("12345678");
  fm->decodeData(d, false);
  EXPECT_TRUE(owner_.events.empty());
  EXPECT_EQ(a->decoder->decoderBufferLimit(), 8u);
}

TEST_F(FilterManagerTest, WatermarkModePausesInsteadOfFailing) {
  auto fm = make(4);
  auto a = std::make_shared<Scripted>("a", log_);
  a->data_status = FilterDataStatus::StopIterationAndWatermark;
  fm->addStreamFilter(a);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d;
  d.add("12345");
  fm->decodeData(d, false);
  EXPECT_EQ(owner_.events, (std::vector<std::string>{"pause"}));
  a->decoder->continueDecoding();
  EXPECT_EQ(owner_.events, (std::vector<std::string>{"pause", "resume"}));
}

TEST_F(FilterManagerTest, EncodersRunInReverseOrderAndLocalReplyCarriesBody) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), true);
  log_.clear();
  b->decoder->sendLocalReply(429, "slow down", nullptr, "local_rate_limited");
  EXPECT_EQ(log_,
            (std::vector<std::string>{"b.encodeHeaders", "a.encodeHeaders",
                                      "b.encodeData slow down end", "a.encodeData slow down end"}));
  EXPECT_EQ(owner_.events, (std::vector<std::string>{"headers 429", "data slow down end"}));
  EXPECT_TRUE(fm->localEncodeComplete());
  EXPECT_EQ(info_.response_code, 429u);
}

TEST_F(FilterManagerTest, LocalReplyAfterResponseStartedResets) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  fm->addStreamFilter(a);
  fm->decodeHeaders(request(), true);
  auto headers = std::make_unique<ResponseHeaderMap>();
  headers->set(":status", "200");
  a->decoder->encodeHeaders(std::move(headers), false, "via_upstream");
  a->decoder->sendLocalReply(503, "", nullptr, "late");
  EXPECT_EQ(owner_.events.back(), "reset");
}

TEST_F(FilterManagerTest, EncoderFilterReleasesHeldDataLaterAndThenTrailers) {
  // The fault filter's response rate limiter: takes data, injects it on later, holds trailers
  // until its data has gone.
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);  // b encodes first
  b->encode_data_status = FilterDataStatus::StopIterationNoBuffer;
  b->encode_trailers_status = FilterTrailersStatus::StopIteration;
  fm->decodeHeaders(request(), true);
  auto headers = std::make_unique<ResponseHeaderMap>();
  headers->set(":status", "200");
  b->decoder->encodeHeaders(std::move(headers), false, "via_upstream");
  buffer::Buffer body;
  body.add("abcdef");
  b->decoder->encodeData(body, false);
  auto trailers = std::make_unique<TrailerMap>();
  trailers->set("grpc-status", "0");
  b->decoder->encodeTrailers(std::move(trailers));
  EXPECT_EQ(owner_.events, (std::vector<std::string>{"headers 200"}));
  buffer::Buffer part;
  part.move(b->held, 3);
  b->encoder->injectEncodedDataToFilterChain(part, true);  // trailers pending: not the end yet
  b->encoder->injectEncodedDataToFilterChain(b->held, true);
  EXPECT_EQ(owner_.events, (std::vector<std::string>{"headers 200", "data abc", "data def"}));
  EXPECT_FALSE(fm->localEncodeComplete());
  b->encoder->continueEncoding();
  EXPECT_EQ(owner_.events.back(), "trailers");
  EXPECT_TRUE(fm->localEncodeComplete());
}

TEST_F(FilterManagerTest, EncoderAndDownstreamWatermarksAreCounted) {
  struct Recorder : DownstreamWatermarkCallbacks {
    void onAboveWriteBufferHighWatermark() override { events.push_back("above"); }
    void onBelowWriteBufferLowWatermark() override { events.push_back("below"); }
    std::vector<std::string> events;
  } recorder;
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  fm->addStreamFilter(a);
  fm->decodeHeaders(request(), true);
  a->decoder->addDownstreamWatermarkCallbacks(recorder);
  fm->onDownstreamAboveWriteBufferHighWatermark();
  a->encoder->onEncoderFilterAboveWriteBufferHighWatermark();
  fm->onDownstreamBelowWriteBufferLowWatermark();
  // Still backed up: the encoder filter holds too much.
  EXPECT_EQ(recorder.events, (std::vector<std::string>{"above"}));
  a->encoder->onEncoderFilterBelowWriteBufferLowWatermark();
  EXPECT_EQ(recorder.events, (std::vector<std::string>{"above", "below"}));
  // A late subscriber hears about a backlog that is already there.
  Recorder late;
  a->encoder->onEncoderFilterAboveWriteBufferHighWatermark();
  a->decoder->addDownstreamWatermarkCallbacks(late);
  EXPECT_EQ(late.events, (std::vector<std::string>{"above"}));
  a->decoder->removeDownstreamWatermarkCallbacks(late);
  a->decoder->removeDownstreamWatermarkCallbacks(recorder);
}

TEST_F(FilterManagerTest, ExplicitContinueAfterBufferingResumesAtTheNextFilter) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  a->data_status = FilterDataStatus::StopIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d1, d2;
  d1.add("x");
  d2.add("y");
  fm->decodeData(d1, false);
  fm->decodeData(d2, true);
  a->decoder->continueDecoding();
  // a saw each chunk once; the whole body goes to b only.
  EXPECT_EQ(log_, (std::vector<std::string>{"a.headers", "b.headers", "a.data x", "a.data y end",
                                            "b.data xy end"}));
  a->decoder->continueDecoding();  // a second continue has nothing left to release
  EXPECT_EQ(log_.size(), 5u);
}

// A nested continue (b resumes inside a's) must not hand anyone the trailers twice.
TEST_F(FilterManagerTest, NestedContinueDeliversTrailersOncePerFilter) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  auto c = std::make_shared<Scripted>("c", log_);
  a->headers_status = FilterHeadersStatus::StopAllIterationAndBuffer;
  b->headers_status = FilterHeadersStatus::StopIteration;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->addStreamFilter(c);
  fm->decodeHeaders(request(), false);
  buffer::Buffer d;
  d.add("x");
  fm->decodeData(d, false);
  fm->decodeTrailers(std::make_unique<TrailerMap>());
  a->decoder->continueDecoding();
  for (const char* name : {"a", "b", "c"}) {
    EXPECT_EQ(std::count(log_.begin(), log_.end(), std::string(name) + ".trailers"), 1) << name;
    EXPECT_EQ(std::count(log_.begin(), log_.end(), std::string(name) + ".data x"), 1) << name;
  }
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "c.headers"), 1);
}

// The response path follows the same rules as the request path.
class FilterManagerEncodeTest : public FilterManagerTest {
 protected:
  void startResponse(Scripted& via, bool end_stream = false) {
    auto headers = std::make_unique<ResponseHeaderMap>();
    headers->set(":status", "200");
    via.decoder->encodeHeaders(std::move(headers), end_stream, "via_upstream");
  }
  void respond(Scripted& via, std::string_view chunk, bool end_stream) {
    buffer::Buffer data;
    data.add(chunk);
    via.decoder->encodeData(data, end_stream);
  }
};

TEST_F(FilterManagerEncodeTest, StopAllOnHeadersThenContinueGivesTheFilterItsData) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);  // encodes first
  b->encode_headers_status = FilterHeadersStatus::StopAllIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), true);
  log_.clear();
  startResponse(*b);
  respond(*b, "abc", true);
  EXPECT_EQ(log_, (std::vector<std::string>{"b.encodeHeaders"}));
  EXPECT_TRUE(owner_.events.empty());
  b->encoder->continueEncoding();
  EXPECT_EQ(log_, (std::vector<std::string>{"b.encodeHeaders", "a.encodeHeaders",
                                            "b.encodeData abc end", "a.encodeData abc end"}));
  EXPECT_EQ(owner_.events, (std::vector<std::string>{"headers 200", "data abc end"}));
  EXPECT_TRUE(fm->localEncodeComplete());
}

TEST_F(FilterManagerEncodeTest, BufferingEncoderHearsEveryChunkAndContinuesWithTheWholeBody) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  b->encode_data_status = FilterDataStatus::StopIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), true);
  log_.clear();
  startResponse(*b);
  respond(*b, "x", false);
  respond(*b, "y", false);
  b->encode_data_status = FilterDataStatus::Continue;
  respond(*b, "z", true);
  EXPECT_EQ(log_, (std::vector<std::string>{"b.encodeHeaders", "a.encodeHeaders", "b.encodeData x",
                                            "b.encodeData y", "b.encodeData z end",
                                            "a.encodeData xyz end"}));
  EXPECT_EQ(owner_.events, (std::vector<std::string>{"headers 200", "data xyz end"}));
}

TEST_F(FilterManagerEncodeTest, TrailersReachABufferingEncoderWhichContinuesOnThem) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  auto b = std::make_shared<Scripted>("b", log_);
  b->encode_data_status = FilterDataStatus::StopIterationAndBuffer;
  fm->addStreamFilter(a);
  fm->addStreamFilter(b);
  fm->decodeHeaders(request(), true);
  log_.clear();
  startResponse(*b);
  respond(*b, "body", false);
  b->decoder->encodeTrailers(std::make_unique<TrailerMap>());
  EXPECT_EQ(log_, (std::vector<std::string>{"b.encodeHeaders", "a.encodeHeaders",
                                            "b.encodeData body", "b.encodeTrailers",
                                            "a.encodeData body", "a.encodeTrailers"}));
  EXPECT_EQ(owner_.events, (std::vector<std::string>{"headers 200", "data body", "trailers"}));
  EXPECT_TRUE(fm->localEncodeComplete());
}

TEST_F(FilterManagerTest, DualFilterDestroyedOnce) {
  auto fm = make();
  auto a = std::make_shared<Scripted>("a", log_);
  fm->addStreamFilter(a);
  fm->destroyFilters();
  fm->destroyFilters();
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "a.destroy"), 1);
}

}  // namespace
}  // namespace remora::http
