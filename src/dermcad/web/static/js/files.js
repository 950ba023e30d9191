// Loading images into the page: only images, each name once.

const IMAGE_NAME = /\.(jpe?g|png|bmp|gif|webp|tiff?)$/i;

/** An image by its MIME type, or by its name when the browser gives no type. */
export function isImageFile(file) {
  if (file.type) return file.type.startsWith("image/");
  return IMAGE_NAME.test(file.name);
}

/**
 * Split the offered files into the ones to add and the ones to refuse.
 * `existingNames` is a Set of names already loaded; a name seen twice in one drop counts too.
 */
export function triageFiles(files, existingNames) {
  const names = new Set(existingNames);
  const added = [];
  const duplicates = [];
  const rejected = [];
  for (const file of files) {
    if (!isImageFile(file)) rejected.push(file.name);
    else if (names.has(file.name)) duplicates.push(file.name);
    else {
      names.add(file.name);
      added.push(file);
    }
  }
  return { added, duplicates, rejected };
}

/** Read an image's own pixel size in the browser (null when it cannot be decoded here). */
export function naturalSize(url) {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve({ width: image.naturalWidth, height: image.naturalHeight });
    image.onerror = () => resolve(null);
    image.src = url;
  });
}

/** The longest loaded file name mentioned in a server message, or null. */
export function fileNamedIn(message, items) {
  let best = null;
  for (const item of items) {
    if (message.includes(item.name) && (!best || item.name.length > best.name.length)) best = item;
  }
  return best;
}
