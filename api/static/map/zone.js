// The zone being edited, as the page holds it, and its forms for the API (lon/lat, WGS84):
//   {kind: "polygon", points: [[lon, lat], ...]}            (open ring, closed when sent)
//   {kind: "circle", center: [lon, lat], radius_m}
//   {kind: "corridor", points: [[lon, lat], ...], width_m}
//   {kind: "area", code}
//   {kind: "fixed", form}                                   (imported, not editable)

/** The API's zone form (geoalert.zones) of a page zone. */
export function toForm(zone) {
  switch (zone.kind) {
    case "polygon":
      return { type: "Polygon", coordinates: [[...zone.points, zone.points[0]]] };
    case "circle":
      return { circle: { lon: zone.center[0], lat: zone.center[1], radius_m: zone.radius_m } };
    case "corridor":
      return {
        corridor: { line: { type: "LineString", coordinates: zone.points }, width_m: zone.width_m },
      };
    case "area":
      return { area: zone.code };
    default:
      return zone.form;
  }
}

/** A page zone from an API zone form: editable where the form is a single shape. */
export function fromForm(form) {
  if (form?.type === "Feature") {
    if (form.properties?.zone) return fromForm(form.properties.zone);
    return fromForm(form.geometry);
  }
  if (form?.type === "FeatureCollection" && form.features?.length === 1) {
    return fromForm(form.features[0]);
  }
  if (form?.type === "Polygon" && form.coordinates?.length === 1) {
    const ring = form.coordinates[0].map((p) => [p[0], p[1]]);
    const [first, last] = [ring[0], ring[ring.length - 1]];
    if (ring.length > 1 && first[0] === last[0] && first[1] === last[1]) ring.pop();
    return { kind: "polygon", points: ring };
  }
  if (form?.circle) {
    const c = form.circle;
    return { kind: "circle", center: [c.lon, c.lat], radius_m: c.radius_m };
  }
  if (form?.corridor?.line?.coordinates) {
    const points = form.corridor.line.coordinates.map((p) => [p[0], p[1]]);
    return { kind: "corridor", points, width_m: form.corridor.width_m };
  }
  if (typeof form?.area === "string") return { kind: "area", code: form.area };
  return { kind: "fixed", form };
}

/** Whether the zone has handles to drag. */
export function editable(zone) {
  return zone !== null && ["polygon", "circle", "corridor"].includes(zone.kind);
}

/**
 * The zone as a GeoJSON Feature (RFC 7946): the resolved geometry, with the form it was
 * drawn in under `properties.zone` so that importing it gives back an editable zone.
 */
export function toFeature(zone, resolved) {
  return {
    type: "Feature",
    geometry: resolved.geometry,
    properties: { zone: toForm(zone), area_km2: resolved.area_km2, warnings: resolved.warnings },
  };
}

/** Read a file's text as a GeoJSON zone form; throws with a readable message. */
export function parseGeoJSON(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON (${error.message})`);
  }
  const kinds = ["Feature", "FeatureCollection", "Polygon", "MultiPolygon"];
  if (!value || typeof value !== "object" || !kinds.includes(value.type)) {
    throw new Error(`expected a GeoJSON ${kinds.join(", ")}, got ${value?.type ?? typeof value}`);
  }
  return value;
}

/** Whether a file's text looks like XML (a CAP alert) rather than JSON. */
export function isXml(text) {
  return text.trimStart().startsWith("<");
}
