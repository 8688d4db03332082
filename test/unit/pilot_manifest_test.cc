// remora-pilot's manifest decoding: kinds and versions accepted, fields kept, and errors that name
// the document and the field path.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "pilot/manifest_parser.h"
#include "pilot/yaml_fields.h"

namespace remora::pilot {
namespace {

Object parseOne(const std::string& yaml) {
  auto docs = parseManifests(yaml);
  EXPECT_EQ(docs.size(), 1u);
  EXPECT_FALSE(docs[0].error) << *docs[0].error;
  return *docs[0].object;
}

std::string errorOf(const std::string& yaml, size_t doc = 0) {
  auto docs = parseManifests(yaml);
  for (const auto& d : docs)
    if (d.index == doc && d.error) return *d.error;
  return "";
}

TEST(PilotManifest, ServiceWithNamedAndNumericTargetPorts) {
  Object o = parseOne(R"(
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  clusterIP: 10.0.0.1
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: 8080}
  - {name: grpc, port: 7070, targetPort: grpc-port, appProtocol: grpc}
  - {name: tcp, port: 5000}
)");
  EXPECT_EQ(o.key.str(), "Service/shop/reviews");
  const auto& s = std::get<Service>(o.body);
  ASSERT_EQ(s.ports.size(), 3u);
  EXPECT_EQ(s.ports[0].target_port, 8080u);
  EXPECT_EQ(s.ports[1].target_port_name, "grpc-port");
  EXPECT_EQ(*s.ports[1].app_protocol, "grpc");
  EXPECT_EQ(s.ports[2].target_port, 5000u);  // defaults to port
  EXPECT_EQ(s.selector.at("app"), "reviews");
}

TEST(PilotManifest, EndpointsAndEndpointSliceGiveTheSameShape) {
  Object e = parseOne(R"(
apiVersion: v1
kind: Endpoints
metadata: {name: reviews}
subsets:
- addresses: [{ip: 10.1.0.1, targetRef: {kind: Pod, name: reviews-v1}}]
  notReadyAddresses: [{ip: 10.1.0.2}]
  ports: [{name: http, port: 9080}]
)");
  const auto& eps = std::get<Endpoints>(e.body);
  EXPECT_EQ(e.key.ns, "default");
  EXPECT_EQ(eps.service, "reviews");
  ASSERT_EQ(eps.groups[0].addresses.size(), 2u);
  EXPECT_EQ(eps.groups[0].addresses[0].pod, "reviews-v1");
  EXPECT_FALSE(eps.groups[0].addresses[1].ready);

  Object s = parseOne(R"(
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-abc, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints:
- addresses: [10.1.0.3]
  conditions: {ready: false}
)");
  EXPECT_EQ(s.key.kind, "EndpointSlice");
  const auto& slice = std::get<Endpoints>(s.body);
  EXPECT_EQ(slice.service, "reviews");
  EXPECT_EQ(slice.groups[0].addresses[0].ip, "10.1.0.3");
  EXPECT_FALSE(slice.groups[0].addresses[0].ready);
}

TEST(PilotManifest, VirtualServiceInEveryServedVersion) {
  for (const char* version : {"v1alpha3", "v1beta1", "v1"}) {
    Object o = parseOne(std::string("apiVersion: networking.istio.io/") + version + R"(
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match:
    - headers: {end-user: {exact: jason}, x-any: {}}
      uri: {prefix: /api}
      queryParams: {debug: {regex: "1|true"}}
      method: {exact: GET}
    fault:
      delay: {fixedDelay: 7s, percent: 100}
      abort: {httpStatus: 500, percentage: {value: 12.5}}
    route:
    - destination: {host: reviews, subset: v2, port: {number: 9080}}
    timeout: 500ms
    retries: {attempts: 3, perTryTimeout: 1.5s, retryOn: "gateway-error,503"}
    headers:
      request: {set: {x-a: b}, remove: [x-c]}
    mirror: {host: reviews, subset: v3}
    mirrorPercentage: {value: 10}
)");
    const auto& vs = std::get<VirtualService>(o.body);
    const auto& r = vs.http.at(0);
    EXPECT_EQ(r.match[0].headers.at("end-user").value, "jason");
    EXPECT_EQ(r.match[0].headers.at("x-any").kind, StringMatch::Kind::kPrefix);
    EXPECT_EQ(r.match[0].uri->value, "/api");
    EXPECT_EQ(r.match[0].query_params.at("debug").kind, StringMatch::Kind::kRegex);
    EXPECT_EQ(*r.fault->delay_ms, 7000u);
    EXPECT_EQ(r.fault->delay_percent.value, 100);
    EXPECT_EQ(*r.fault->abort_status, 500u);
    EXPECT_EQ(r.fault->abort_percent.value, 12.5);
    EXPECT_EQ(*r.route[0].destination.port, 9080u);
    EXPECT_EQ(*r.timeout_ms, 500u);
    EXPECT_EQ(r.retries->attempts, 3u);
    EXPECT_EQ(*r.retries->per_try_timeout_ms, 1500u);
    EXPECT_EQ(r.request_headers.set.at("x-a"), "b");
    EXPECT_EQ(r.mirror->subset, "v3");
    EXPECT_EQ(*r.mirror_percent, 10);
  }
}

TEST(PilotManifest, ErrorsNameDocumentAndFieldPath) {
  const std::string two = R"(
apiVersion: v1
kind: Service
metadata: {name: ok}
spec: {ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: 50
    - destination: {host: reviews}
      weight: lots
)";
  EXPECT_EQ(errorOf(two, 1),
            "spec.http[0].route[1].weight: expected an unsigned integer, got 'lots'");
  EXPECT_EQ(
      errorOf(
          "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 70000}]\n"),
      "spec.ports[0].port: expected a port 1-65535");
  EXPECT_EQ(errorOf("apiVersion: v1\nkind: Widget\nmetadata: {name: x}\n"),
            "kind: unknown kind Widget in v1");
  EXPECT_EQ(errorOf("apiVersion: v1\nkind: Service\nmetadata: {}\n"), "metadata.name: required");
  EXPECT_EQ(errorOf(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x}
spec:
  hosts: [a]
  http: [{route: [{destination: {host: a}}], directResponse: {status: 200}}]
)"),
            "spec.http[0].directResponse: not yet supported by remora-pilot");
  EXPECT_EQ(errorOf(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x}
spec:
  hosts: [a]
  http: [{route: [{destination: {host: a}}], timeout: soon}]
)"),
            "spec.http[0].timeout: expected a duration such as \"1.5s\", got 'soon'");
  auto syntax = parseManifests("apiVersion: v1\nkind: [unclosed\n");
  ASSERT_EQ(syntax.size(), 1u);
  EXPECT_NE(syntax[0].error->find("line"), std::string::npos);
}

TEST(PilotManifest, UnsupportedKindsAreAcceptedAndMarked) {
  for (const char* doc :
       {"apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n",
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"}) {
    Object o = parseOne(doc);
    EXPECT_TRUE(std::holds_alternative<UnsupportedObject>(o.body)) << doc;
  }
}

TEST(PilotManifest, Durations) {
  EXPECT_EQ(*parseDurationMs("7s"), 7000u);
  EXPECT_EQ(*parseDurationMs("0.5s"), 500u);
  EXPECT_EQ(*parseDurationMs("1m30s"), 90000u);
  EXPECT_EQ(*parseDurationMs("250ms"), 250u);
  EXPECT_FALSE(parseDurationMs("5"));
  EXPECT_FALSE(parseDurationMs("s"));
  EXPECT_FALSE(parseDurationMs("5d"));
}

TEST(PilotManifest, BookinfoSamplesParse) {
  const std::string dir = std::string(REMORA_SOURCE_DIR) + "/../shared/testdata/istio-bookinfo/";
  for (const char* file :
       {"bookinfo.yaml", "destination-rule-all.yaml", "virtual-service-all-v1.yaml",
        "virtual-service-ratings-test-abort.yaml", "virtual-service-ratings-test-delay.yaml",
        "virtual-service-reviews-50-v3.yaml", "virtual-service-reviews-test-v2.yaml"}) {
    std::ifstream in(dir + file);
    if (!in) GTEST_SKIP() << "no shared testdata at " << dir;
    std::stringstream text;
    text << in.rdbuf();
    for (const auto& doc : parseManifests(text.str()))
      EXPECT_FALSE(doc.error) << file << ": document " << doc.index << ": " << *doc.error;
  }
}

}  // namespace
}  // namespace remora::pilot
