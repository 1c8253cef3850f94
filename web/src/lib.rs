//! The pages of gridwatch, embedded in the binary so that a centre on an isolated network
//! needs nothing from outside: no CDN, no web fonts, no map tiles.
//!
//! The files live in `web/assets/`; this crate only hands them out by path with their content
//! type. It knows nothing of the hub's API beyond what the pages' scripts call.

use include_dir::{include_dir, Dir};

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets");

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

/// The file at `path` (relative, e.g. `index.html` or `js/i18n.js`), if there is one.
pub fn asset(path: &str) -> Option<Asset> {
    let path = path.trim_start_matches('/');
    if path.split('/').any(|seg| seg == "..") {
        return None;
    }
    let file = ASSETS.get_file(path)?;
    Some(Asset {
        bytes: file.contents(),
        content_type: content_type(path),
    })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_embedded_with_types() {
        let index = asset("index.html").expect("index.html is embedded");
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        assert!(std::str::from_utf8(index.bytes).unwrap().contains("<html"));
        assert!(asset("/js/i18n.js").is_some());
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("nope.html").is_none());
    }

    #[test]
    fn pages_load_nothing_from_outside() {
        fn walk(dir: &Dir<'static>, seen: &mut usize) {
            for file in dir.files() {
                let text = String::from_utf8_lossy(file.contents());
                assert!(
                    !text.contains("http://") && !text.contains("https://"),
                    "{} refers to an outside address",
                    file.path().display()
                );
                *seen += 1;
            }
            for sub in dir.dirs() {
                walk(sub, seen);
            }
        }
        let mut seen = 0;
        walk(&ASSETS, &mut seen);
        assert!(seen >= 4, "only {seen} files checked");
    }

    #[test]
    fn every_page_and_module_it_loads_is_embedded() {
        for page in [
            "index.html",
            "wall.html",
            "console.html",
            "sos.html",
            "calibrate.html",
            "zones.html",
        ] {
            let text = std::str::from_utf8(asset(page).expect(page).bytes).unwrap();
            for attr in ["src=\"/assets/", "href=\"/assets/"] {
                for rest in text.split(attr).skip(1) {
                    let path = &rest[..rest.find('"').unwrap()];
                    assert!(
                        asset(path).is_some(),
                        "{page} loads {path}, which is not embedded"
                    );
                }
            }
        }
        fn walk(dir: &Dir<'static>) {
            for file in dir.files() {
                let path = file.path();
                if path.extension().and_then(|e| e.to_str()) != Some("js") {
                    continue;
                }
                let text = std::str::from_utf8(file.contents()).unwrap();
                for rest in text.split(" from \"./").skip(1) {
                    let name = &rest[..rest.find('"').unwrap()];
                    let target = path.parent().unwrap().join(name);
                    assert!(
                        asset(target.to_str().unwrap()).is_some(),
                        "{} imports {name}, which is not embedded",
                        path.display()
                    );
                }
            }
            for sub in dir.dirs() {
                walk(sub);
            }
        }
        walk(&ASSETS);
    }
}
