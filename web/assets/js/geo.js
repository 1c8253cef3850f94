// Where the phone is, if it is allowed to say, within a short time: never blocks a call for help.

/** Resolves to {lat, lon} or null after at most `ms`. */
export function locate(ms = 3000) {
  return new Promise((resolve) => {
    if (!navigator.geolocation) { resolve(null); return; }
    const timer = setTimeout(() => resolve(null), ms);
    navigator.geolocation.getCurrentPosition(
      (p) => { clearTimeout(timer); resolve({ lat: p.coords.latitude, lon: p.coords.longitude }); },
      () => { clearTimeout(timer); resolve(null); },
      { enableHighAccuracy: true, timeout: ms, maximumAge: 30000 },
    );
  });
}
