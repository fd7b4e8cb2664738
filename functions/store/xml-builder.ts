/**
 * @aws-sdk/xml-builder for workerd. The SDK's browser build parses S3's XML answers (listings,
 * error codes such as NoSuchKey) with DOMParser, which Workers do not have; its Node build has a
 * plain-JS parser. wrangler.toml aliases the package here, and this picks the plain-JS parser
 * by its file path.
 */
// @ts-expect-error the package's files have no type declarations of their own
export { XmlNode, XmlText } from '../../node_modules/@aws-sdk/xml-builder/dist-es/index.js';
// @ts-expect-error as above
export { parseXML } from '../../node_modules/@aws-sdk/xml-builder/dist-es/xml-parser.js';
