#pragma once

// Decoders for the Kubernetes kinds (v1 Service, Endpoints, Pod; discovery.k8s.io/v1
// EndpointSlice) from a manifest document's fields.

#include "common/status.h"
#include "pilot/objects.h"
#include "pilot/yaml_fields.h"

namespace remora::pilot {

Status parseService(const Field& doc, Service& out);
Status parseEndpoints(const Field& doc, Endpoints& out);
Status parseEndpointSlice(const Field& doc, Endpoints& out);
Status parsePod(const Field& doc, Pod& out);

}  // namespace remora::pilot
