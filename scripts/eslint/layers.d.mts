export declare const LAYERS: Record<string, number>;
export declare function subsystemOf(srcRoot: string, file: string): string | undefined;
export declare function layerProblem(srcRoot: string, file: string, spec: string): string | undefined;
declare const plugin: { rules: Record<string, unknown> };
export default plugin;
