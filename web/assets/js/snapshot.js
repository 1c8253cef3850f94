// A camera's current picture in an <img>, for the admin pages drawn over it (calibration,
// motion zones). A camera just (re)connected has no picture for a moment (the hub answers
// 503): the image is asked for again, a few times, while the page still shows that camera.
export function showSnapshot(img, cameraId, { onMissing = () => {}, stillWanted = () => true, tries = 10 } = {}) {
  let left = tries;
  const fetchOne = () => { img.src = `/api/v1/cameras/${encodeURIComponent(cameraId)}/snapshot.jpg?t=${Date.now()}`; };
  img.onerror = () => {
    onMissing();
    if (--left > 0 && stillWanted()) setTimeout(fetchOne, 2000);
  };
  fetchOne();
}
