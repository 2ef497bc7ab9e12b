//! ImageNet-1k's class list (published facts, embedded from `assets/imagenet/`): the 1000
//! WordNet ids in sorted order, which is torchvision's `ImageFolder` class index (0 =
//! `n01440764`, tench), with the first name of each synset; the class subsets of the
//! 200-class robustness sets (ImageNet-R, ImageNet-A); CIFAR-100's class names.

use std::sync::OnceLock;

const CLASSES_TSV: &str = include_str!("../../assets/imagenet/classes.tsv");
/// The 200 WordNet ids of ImageNet-R (Hendrycks et al. 2021), sorted.
const IMAGENET_R_TXT: &str = include_str!("../../assets/imagenet/imagenet_r_wnids.txt");
/// The 200 WordNet ids of ImageNet-A (Hendrycks et al. 2021), sorted.
const IMAGENET_A_TXT: &str = include_str!("../../assets/imagenet/imagenet_a_wnids.txt");

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

/// The 1000 ImageNet-1k WordNet ids in class-index order.
pub fn imagenet_wnids() -> Vec<String> {
    imagenet_classes().iter().map(|c| c.wnid.to_string()).collect()
}

fn wnid_list(text: &'static str) -> Vec<&'static str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

/// ImageNet-R's 200 WordNet ids, sorted (the order of its class folders).
///
/// ```
/// assert_eq!(advbn::data::imagenet_r_wnids().len(), 200);
/// ```
pub fn imagenet_r_wnids() -> &'static [&'static str] {
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| wnid_list(IMAGENET_R_TXT))
}

/// ImageNet-A's 200 WordNet ids, sorted (the order of its class folders).
///
/// ```
/// assert_eq!(advbn::data::imagenet_a_wnids().len(), 200);
/// ```
pub fn imagenet_a_wnids() -> &'static [&'static str] {
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| wnid_list(IMAGENET_A_TXT))
}

/// Whether `name` has the form of a WordNet noun id: `n` and eight digits.
///
/// ```
/// assert!(advbn::data::is_wnid("n01440764"));
/// assert!(!advbn::data::is_wnid("cat"));
/// ```
pub fn is_wnid(name: &str) -> bool {
    name.len() == 9 && name.starts_with('n') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

/// The 100 CIFAR-100 fine labels in label order (alphabetical, as released).
pub const CIFAR100_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

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

    #[test]
    fn lists_are_sorted_unique_wnids_and_subsets_of_imagenet() {
        let all = imagenet_wnids();
        assert_eq!(all.len(), 1000);
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(all.iter().all(|w| is_wnid(w)));
        assert!(imagenet_classes().iter().all(|c| !c.name.is_empty()));
        for list in [imagenet_r_wnids(), imagenet_a_wnids()] {
            assert_eq!(list.len(), 200);
            assert!(list.windows(2).all(|w| w[0] < w[1]));
            assert!(list.iter().all(|w| all.binary_search(&w.to_string()).is_ok()));
        }
        // The two 200-class sets are different selections.
        assert_ne!(imagenet_r_wnids(), imagenet_a_wnids());
    }

    #[test]
    fn cifar100_names_are_sorted_and_unique() {
        assert!(CIFAR100_CLASSES.windows(2).all(|w| w[0] < w[1]));
    }
}
