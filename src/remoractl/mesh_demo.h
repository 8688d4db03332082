#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace remora::remoractl {

// `remoractl mesh demo [--once]`: brings Bookinfo up with a client pod of its own, applies
// Istio's rules in order (destination-rule-all, virtual-service-all-v1, reviews-test-v2,
// ratings-test-delay, ratings-test-abort, reviews-50-v3), drives traffic as jason and as
// everyone else after each, and prints what each rule changed; mutual TLS is shown refused.
// Leaves the mesh up with the commands to explore it, or tears it down with --once.
int runMeshDemo(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace remora::remoractl
