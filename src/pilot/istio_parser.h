#pragma once

// Decoders for networking.istio.io VirtualService, DestinationRule, ServiceEntry and Sidecar
// (v1alpha3, v1beta1 and v1 share one schema) from a manifest document's `spec`.

#include "common/status.h"
#include "pilot/objects.h"
#include "pilot/yaml_fields.h"

namespace remora::pilot {

Status parseVirtualService(const Field& spec, VirtualService& out);
Status parseDestinationRule(const Field& spec, DestinationRule& out);
Status parseServiceEntry(const Field& spec, ServiceEntry& out);
Status parseSidecar(const Field& spec, Sidecar& out);

}  // namespace remora::pilot
