//! ImageNet-1k's class list (published facts, embedded from `assets/imagenet/`): the 1000
//! WordNet ids in sorted order, which is torchvision's `ImageFolder` class index (0 =
//! `n01440764`, tench), with the first name of each synset.

use std::sync::OnceLock;

const CLASSES_TSV: &str = include_str!("../../assets/imagenet/classes.tsv");

/// One ImageNet-1k class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageNetClass {
    /// WordNet id, e.g. `n01440764`.
    pub wnid: &'static str,
    /// The synset's first name, e.g. `tench` (two names occur twice: `crane` and `maillot`,
    /// as in the published list; the wnid tells them apart).
    pub name: &'static str,
}

/// The 1000 classes in class-index order.
///
/// ```
/// use advbn::data::imagenet_classes;
/// let classes = imagenet_classes();
/// assert_eq!(classes.len(), 1000);
/// assert_eq!((classes[0].wnid, classes[0].name), ("n01440764", "tench"));
/// assert_eq!(classes[999].wnid, "n15075141");
/// ```
pub fn imagenet_classes() -> &'static [ImageNetClass] {
    static CLASSES: OnceLock<Vec<ImageNetClass>> = OnceLock::new();
    CLASSES.get_or_init(|| {
        CLASSES_TSV
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let (wnid, name) = line.split_once('\t').expect("classes.tsv: wnid<TAB>name");
                ImageNetClass { wnid, name }
            })
            .collect()
    })
}

/// The class index of `wnid` among the 1000, if it is one of them.
///
/// ```
/// assert_eq!(advbn::data::imagenet_class_index("n01443537"), Some(1));
/// assert_eq!(advbn::data::imagenet_class_index("n99999999"), None);
/// ```
pub fn imagenet_class_index(wnid: &str) -> Option<usize> {
    imagenet_classes().binary_search_by(|c| c.wnid.cmp(wnid)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_unique_and_complete() {
        let classes = imagenet_classes();
        assert_eq!(classes.len(), 1000);
        assert!(classes.windows(2).all(|w| w[0].wnid < w[1].wnid));
        assert!(
            classes
                .iter()
                .all(|c| c.wnid.len() == 9 && c.wnid.starts_with('n') && !c.name.is_empty())
        );
        for (i, c) in classes.iter().enumerate() {
            assert_eq!(imagenet_class_index(c.wnid), Some(i));
        }
    }
}
